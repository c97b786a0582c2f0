//! The engines Portico can run and the `engineType`/`runType` table that picks one.
//!
//! An engine only knows how to turn code into a command line; the runner owns the process.
//! Adding an engine means a file beside this one, a row in [`Engine::ALL`], its Linkis error
//! code in `job/finish.rs::error_code`, and the files it writes in [`Engine::clean_up`]. It must
//! not know about HTTP, the queue, or how a process is signalled.

mod python;
mod shell;

use std::path::Path;
use std::process::Command;

use crate::config::Config;

/// An engine that runs submitted code as a child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Shell,
    Python,
}

impl Engine {
    /// Every engine, in the order error messages list them.
    pub const ALL: [Engine; 2] = [Engine::Shell, Engine::Python];

    /// The engine name used in `engineType` labels, short ids and job history.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Shell => "shell",
            Engine::Python => "python",
        }
    }

    /// The version added to a bare `executeApplicationName`, as Linkis does (`shell` → `shell-1`).
    pub fn default_version(self) -> &'static str {
        match self {
            Engine::Shell => "1",
            Engine::Python => "python3",
        }
    }

    /// The run types this engine accepts; the first is the canonical one.
    pub fn run_types(self) -> &'static [&'static str] {
        match self {
            Engine::Shell => &["shell", "sh"],
            Engine::Python => &["python", "py", "py3", "python3"],
        }
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
            .map(|e| format!("{}-* (runType {})", e.name(), e.run_types().join("|")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Removes what [`Engine::command`] wrote into `work_dir`, then the directory itself if the
    /// job left nothing else there (what a job leaves behind is kept for its owner).
    pub fn clean_up(self, work_dir: &Path) {
        for script in ["job.sh", "job.py"] {
            let _ = std::fs::remove_file(work_dir.join(script));
        }
        let _ = std::fs::remove_dir(work_dir);
    }

    /// The command that runs `code` in `work_dir`. Code too long for one argument is written
    /// to a file in `work_dir` first, which is why this can fail.
    pub fn command(self, code: &str, work_dir: &Path, config: &Config) -> std::io::Result<Command> {
        match self {
            Engine::Shell => shell::command(&config.shell, code, work_dir),
            Engine::Python => python::command(&config.python, code, work_dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_types_and_run_types_resolve() {
        assert_eq!(Engine::from_engine_type("shell-1"), Some(Engine::Shell));
        assert_eq!(Engine::from_engine_type("python-python2"), Some(Engine::Python));
        assert_eq!(Engine::from_engine_type("spark-2.4.3"), None);
        assert_eq!(Engine::from_run_type("py3"), Some(Engine::Python));
        assert!(Engine::Shell.accepts_run_type("SH"));
        assert!(!Engine::Shell.accepts_run_type("python"));
        assert!(Engine::supported_list().contains("python-* (runType python|py|py3|python3)"));
    }
}
