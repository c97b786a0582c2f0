//! The engines Portico can run and the `engineType`/`runType` table that picks one.
//!
//! An engine only knows how to turn code into a command line; the runner owns the process.
//! Adding an engine means a file beside this one, a row in [`Engine::ALL`], its Linkis error
//! code in [`Engine::failure_code`], the files it writes in [`Engine::clean_up`], and the
//! markers it speaks in `markers.rs`. It must
//! not know about HTTP, the queue, or how a process is signalled.

mod markers;
mod python;
mod shell;
pub mod spark;
mod spark_scala;
pub mod spark_ui;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub use markers::{Marker, PENDING_RESULT_PREFIX};

use crate::config::Config;
use crate::data_dir::Layout;

/// An engine that runs submitted code as a child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Shell,
    Python,
    /// SQL against a SQLite database, run by this same binary as the job's child process.
    Sqlite,
    /// Linkis's JDBC engine type, mapped by the config to one named SQLite database.
    Jdbc,
    /// Spark SQL or PySpark through `spark-submit` in client mode.
    Spark,
}

/// What an engine needs to know of a job to start it.
pub struct Launch<'a> {
    pub task_id: u64,
    pub code: &'a str,
    pub run_type: &'a str,
    pub work_dir: &'a Path,
    pub result_dir: &'a Path,
    pub user: &'a str,
    /// The submission's `params` (the SQL engines read their database choice there).
    pub params: &'a Value,
}

/// The engine type a bare engine name (`spark`) stands for (`spark-4.3.0`); `None` for
/// anything that is not exactly an engine's name (a versioned type is kept as it is).
pub fn versioned_engine_type(name: &str) -> Option<String> {
    Engine::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name)).map(Engine::default_engine_type)
}

impl Engine {
    /// Every engine, in the order error messages list them.
    pub const ALL: [Engine; 5] = [Engine::Shell, Engine::Python, Engine::Sqlite, Engine::Jdbc, Engine::Spark];

    /// The engine name used in `engineType` labels, short ids and job history.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Shell => "shell",
            Engine::Python => "python",
            Engine::Sqlite => "sqlite",
            Engine::Jdbc => "jdbc",
            Engine::Spark => "spark",
        }
    }

    /// The version added to a bare `executeApplicationName`, as Linkis does (`shell` → `shell-1`).
    pub fn default_version(self) -> &'static str {
        match self {
            Engine::Shell => "1",
            Engine::Python => "python3",
            Engine::Sqlite => "3",
            Engine::Jdbc => "4",
            Engine::Spark => "4.3.0",
        }
    }

    /// The run types this engine accepts; the first is the canonical one.
    pub fn run_types(self) -> &'static [&'static str] {
        match self {
            Engine::Shell => &["shell", "sh"],
            Engine::Python => &["python", "py", "py3", "python3"],
            Engine::Sqlite => &["sql"],
            Engine::Jdbc => &["jdbc", "sql"],
            Engine::Spark => &["sql", "hql", "spark-sql", "py", "python", "pyspark", "scala"],
        }
    }

    /// The engine type a bare engine name stands for (`shell` → `shell-1`), as Linkis adds it.
    pub fn default_engine_type(self) -> String {
        format!("{}-{}", self.name(), self.default_version())
    }

    /// Finds the engine for an `engineType` label (`shell-1`, `python-python3`) or a bare name.
    pub fn from_engine_type(engine_type: &str) -> Option<Engine> {
        let name = engine_type.split('-').next().unwrap_or_default();
        Engine::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name))
    }

    /// The engine a run type belongs to, for execute bodies that name only a run type.
    pub fn from_run_type(run_type: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.run_types().iter().any(|r| r.eq_ignore_ascii_case(run_type)))
    }

    /// Whether `run_type` is one of this engine's run types.
    pub fn accepts_run_type(self, run_type: &str) -> bool {
        self.run_types().iter().any(|r| r.eq_ignore_ascii_case(run_type))
    }

    /// What the server supports, for error messages that must tell the client what to send.
    pub fn supported_list() -> String {
        Engine::ALL
            .iter()
            .map(|e| {
                // Spark is not part of Portico: say so where the list is shown.
                let needs = if *e == Engine::Spark { ", when Spark is installed" } else { "" };
                format!("{}-* (runType {}{needs})", e.name(), e.run_types().join("|"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Removes what [`Engine::command`] wrote into `work_dir`, and says whether that left it
    /// empty; the directory itself is the caller's to remove if the job left nothing else
    /// there (what a job leaves behind is kept for its owner). The directory is listed once:
    /// most jobs' directories hold nothing, and four removals tried were four path walks.
    pub fn clean_up(self, work_dir: &Path) -> bool {
        let mut emptied = true;
        for entry in std::fs::read_dir(work_dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if [shell::SCRIPT, python::SCRIPT, python::HELPER, sqlite::SCRIPT].iter().any(|file| name == *file) {
                let _ = std::fs::remove_file(entry.path());
            } else {
                emptied = false;
            }
        }
        if self == Engine::Spark {
            for file in spark::written_files(work_dir) {
                let _ = std::fs::remove_file(file);
            }
            // Spark's scratch space (spark.local.dir, java.io.tmpdir): the engine's, not the job's.
            let _ = std::fs::remove_dir_all(work_dir.join("tmp"));
            return false;
        }
        emptied
    }

    /// Whether what a job prints on stdout is its TEXT result set. Not for Spark SQL: its
    /// driver prints only markers, and Spark's Python side writes its own log lines there
    /// (PySpark merges the driver's stderr into stdout), which belong in the log.
    pub fn stdout_is_result(self, run_type: &str) -> bool {
        !(self == Engine::Spark && spark::Kind::of(run_type) == spark::Kind::Sql)
    }

    /// Whether the engine's processes may leave the job's process group (PySpark's worker
    /// daemon does): such a job is started as a session of its own, and its end looks for its
    /// processes in that session too. Other jobs are a process group in the server's session,
    /// started without a fork of the server.
    pub fn leaves_its_group(self) -> bool {
        self == Engine::Spark
    }

    /// Whether the job's progress comes from its driver's own task counts (Spark's UI), so its
    /// `n/m` progress lines only move the fraction and do not replace the counts.
    pub fn counts_its_own_tasks(self) -> bool {
        self == Engine::Spark
    }

    /// The Linkis error code of a job of this engine that failed.
    pub fn failure_code(self) -> u32 {
        match self {
            Engine::Shell => 50037,
            Engine::Python => 60002,
            // Linkis's JDBC engine's "execute error".
            Engine::Sqlite | Engine::Jdbc => 70001,
            // Linkis's Spark engine's "execute error".
            Engine::Spark => 43007,
        }
    }

    /// Checks at submission what would stop the job from starting (for SQL: a database the
    /// user may not use; for Python: an interpreter the config does not allow), so the client
    /// hears it at once rather than from a failed job.
    pub fn check(self, config: &Config, user: &str, params: &Value) -> Result<(), EngineError> {
        match self {
            Engine::Python => python::interpreter(config, params).map(drop),
            _ if python::requested(params)?.is_some() => Err(EngineError::Refused(format!(
                "Runtime parameter {} is not allowed: it chooses the interpreter of python jobs, not of {} jobs",
                python::VERSION_KEY,
                self.name()
            ))),
            Engine::Shell => Ok(()),
            Engine::Sqlite | Engine::Jdbc => sqlite::database_for(self, config, user, params).map(drop),
            Engine::Spark => spark::check(config, params).map(drop),
        }
    }

    /// The command that runs a job. Code is written to a file in the job's working directory
    /// when it is long (shell) or always (Python, SQL), which is why this can fail.
    pub fn command(self, job: &Launch<'_>, config: &Config) -> Result<Command, EngineError> {
        // A shell job's one result set is written by the runner, which makes the directory
        // with it; the other engines are handed the directory to write theirs into.
        if self != Engine::Shell {
            std::fs::create_dir_all(job.result_dir)?;
        }
        match self {
            Engine::Shell => Ok(shell::command(&config.shell, job.code, job.work_dir)?),
            Engine::Python => python::command(config, job),
            Engine::Sqlite | Engine::Jdbc => sqlite::command(self, job, config),
            Engine::Spark => spark::command(job, config),
        }
    }
}

/// Why an engine cannot run a job.
#[derive(Debug)]
pub enum EngineError {
    /// The job asks for something it may not have (a database not open to its user).
    Refused(String),
    /// The job's files could not be written, or the engine's program not found.
    Io(std::io::Error),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Refused(why) => f.write_str(why),
            EngineError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> EngineError {
        EngineError::Io(e)
    }
}

/// Where a user's own SQLite database lives, created on first use.
fn user_database(config: &Config, user: &str) -> PathBuf {
    Layout::new(&config.data_dir).user_database(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_types_and_run_types_resolve() {
        assert_eq!(Engine::from_engine_type("shell-1"), Some(Engine::Shell));
        assert_eq!(Engine::from_engine_type("python-python2"), Some(Engine::Python));
        assert_eq!(Engine::from_engine_type("spark-2.4.3"), Some(Engine::Spark));
        assert_eq!(Engine::from_engine_type("flink-1.16"), None);
        assert_eq!(Engine::from_engine_type("sqlite-3"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_engine_type("jdbc-4"), Some(Engine::Jdbc));
        assert_eq!(Engine::from_run_type("sql"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_run_type("py3"), Some(Engine::Python));
        assert!(Engine::Shell.accepts_run_type("SH"));
        assert!(!Engine::Shell.accepts_run_type("python"));
        assert!(Engine::supported_list().contains("python-* (runType python|py|py3|python3)"));
    }
}
