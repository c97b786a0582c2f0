//! What `params.configuration.runtime` may ask of a job's process: extra environment variables
//! (`env.NAME`) and a working directory inside the job's own folder (`working.directory`, or
//! Linkis's `wds.linkis.shell.runtime.working.directory`). The Python interpreter
//! (`python.version`) is the Python engine's business, since only the config knows which ones
//! are allowed (`engine/python.rs`).
//!
//! The same reading serves twice: at submission, to refuse what is not allowed with a message
//! naming the key, and when the job starts, from the params kept in its history row (a job
//! queued across a restart starts with what was accepted). Keys this module does not know are
//! left to others (`database`, `priority`, `spark.*`) or ignored, as Linkis ignores them. It
//! must not know HTTP or the queue.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::engine::Engine;
use crate::job::JobError;

/// The prefix of keys that set an environment variable: `env.NAME`.
pub const ENV_PREFIX: &str = "env.";
/// The key naming the working directory, relative to the job's folder.
pub const WORKING_DIRECTORY: &str = "working.directory";
/// Linkis's shell engine's name for it, read the same way.
pub const LINKIS_WORKING_DIRECTORY: &str = "wds.linkis.shell.runtime.working.directory";

/// Names a job may not set because the server sets them for every job (the task and exec ids,
/// the process marker recovery relies on, unbuffered Python output) or keeps them from jobs.
const RESERVED_PREFIXES: [&str; 2] = ["LINKIS_", "PORTICO_"];
const RESERVED_NAMES: [&str; 1] = ["PYTHONUNBUFFERED"];

/// Longest variable name; the environment has no limit of its own, but no real name is longer.
const MAX_NAME: usize = 255;
/// The environment a job's parameters may add, names and values together: well inside what
/// `execve` accepts (a single string may hold 128 KiB, all of them together a few MiB).
const MAX_ENV_BYTES: usize = 256 * 1024;
/// Longest working directory, and most levels in it.
const MAX_DIR_BYTES: usize = 1024;
const MAX_DIR_DEPTH: usize = 32;

/// Linkis's code for a job its engine will not run as asked, as for `spark.*` and `database`.
const REFUSED: u32 = 20010;

/// What a job's runtime parameters ask of its process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runtime {
    /// Extra environment variables, in the order given.
    pub env: Vec<(String, String)>,
    /// The working directory, relative to the job's folder, of plain components only.
    pub working_dir: Option<PathBuf>,
}

/// Reads and checks the runtime parameters in `params` for a job of `engine`.
pub fn of(engine: Engine, params: &Value) -> Result<Runtime, JobError> {
    let Some(runtime) = params.pointer("/configuration/runtime").and_then(Value::as_object) else {
        return Ok(Runtime::default());
    };
    let own_process = matches!(engine, Engine::Shell | Engine::Python);
    let mut env = Vec::new();
    let mut env_bytes = 0;
    for (key, value) in runtime.iter().filter(|(key, _)| key.starts_with(ENV_PREFIX)) {
        if !own_process {
            return Err(refused(
                key,
                &format!("environment variables are set only for shell and python jobs, not {} jobs", engine.name()),
            ));
        }
        let name = &key[ENV_PREFIX.len()..];
        check_env_name(key, name)?;
        let Some(value) = scalar(key, value)? else { continue };
        if value.contains('\0') {
            return Err(refused(key, "the value holds a NUL character, which no environment variable can"));
        }
        env_bytes += name.len() + value.len() + 2;
        if env_bytes > MAX_ENV_BYTES {
            return Err(refused(
                key,
                &format!("the environment variables of a job may hold at most {MAX_ENV_BYTES} bytes together"),
            ));
        }
        env.push((name.to_string(), value));
    }
    Ok(Runtime { env, working_dir: working_dir(engine, runtime, own_process)? })
}

fn check_env_name(key: &str, name: &str) -> Result<(), JobError> {
    let mut bytes = name.bytes();
    let posix = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !posix || name.len() > MAX_NAME {
        return Err(refused(
            key,
            "an environment variable's name is letters, digits and _, not starting with a digit (at most 255)",
        ));
    }
    let upper = name.to_ascii_uppercase();
    if RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p)) || RESERVED_NAMES.contains(&upper.as_str()) {
        return Err(refused(
            key,
            &format!(
                "{name} is set by the server for every job and cannot be overridden (nor any {}* variable)",
                RESERVED_PREFIXES.join("*, ")
            ),
        ));
    }
    Ok(())
}

/// The working directory asked for under either name (they must agree when both are given).
fn working_dir(engine: Engine, runtime: &Map<String, Value>, own_process: bool) -> Result<Option<PathBuf>, JobError> {
    let mut chosen: Option<(&str, PathBuf)> = None;
    for key in [WORKING_DIRECTORY, LINKIS_WORKING_DIRECTORY] {
        let Some(value) = runtime.get(key) else { continue };
        let Some(text) = scalar(key, value)?.filter(|t| !t.trim().is_empty()) else { continue };
        if !own_process {
            return Err(refused(
                key,
                &format!(
                    "a working directory can be chosen only for shell and python jobs, not {} jobs",
                    engine.name()
                ),
            ));
        }
        let dir = relative_dir(key, &text)?;
        match &chosen {
            Some((first, other)) if *other != dir => {
                return Err(refused(key, &format!("it names another directory than {first}")));
            }
            _ => chosen = Some((key, dir)),
        }
    }
    Ok(chosen.map(|(_, dir)| dir).filter(|dir| dir.components().next().is_some()))
}

/// A path inside the job's folder: relative, without `..`, of plain names.
fn relative_dir(key: &str, text: &str) -> Result<PathBuf, JobError> {
    let inside = "must be a directory inside the job's own folder, such as data/out";
    if text.len() > MAX_DIR_BYTES || text.contains('\0') || text.chars().any(char::is_control) {
        return Err(refused(key, &format!("{inside} (at most {MAX_DIR_BYTES} bytes, no control characters)")));
    }
    let path = Path::new(text);
    let mut dir = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => dir.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(key, &format!("{inside}: .. is not allowed"))),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(key, &format!("{inside}: an absolute path is not allowed")))
            }
        }
    }
    if dir.components().count() > MAX_DIR_DEPTH {
        return Err(refused(key, &format!("{inside} (at most {MAX_DIR_DEPTH} levels)")));
    }
    Ok(dir)
}

/// A parameter's value as text: strings, numbers and booleans; `None` for null.
fn scalar(key: &str, value: &Value) -> Result<Option<String>, JobError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(refused(key, "must be a string, a number or a boolean")),
    }
}

fn refused(key: &str, why: &str) -> JobError {
    let key: String = key.chars().take(200).flat_map(char::escape_default).collect();
    JobError::invalid(REFUSED, format!("Runtime parameter {key} is not allowed: {why}"))
}

/// Creates `relative` inside `work_dir`, one level at a time, refusing any level that exists as
/// something other than a plain directory (a symlink could lead out of the job's folder), and
/// answers the directory the job starts in.
pub fn prepare_working_dir(work_dir: &Path, relative: Option<&Path>) -> std::io::Result<PathBuf> {
    let Some(relative) = relative else { return Ok(work_dir.to_path_buf()) };
    let mut dir = work_dir.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(escape(relative));
        };
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => return Err(escape(relative)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
            }
            Err(e) => return Err(e),
        }
    }
    // Belt and braces: whatever the levels were, the result must still be inside.
    if !dir.canonicalize()?.starts_with(work_dir.canonicalize()?) {
        return Err(escape(relative));
    }
    Ok(dir)
}

/// Removes the working directory [`prepare_working_dir`] made, level by level from the deepest,
/// as long as each level is empty (what the job wrote there stays for its owner).
pub fn remove_empty_working_dir(work_dir: &Path, engine: Engine, params: &Value) {
    let Ok(Runtime { working_dir: Some(relative), .. }) = of(engine, params) else { return };
    let mut levels: Vec<PathBuf> =
        relative.ancestors().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).collect();
    levels.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for level in levels {
        if std::fs::remove_dir(work_dir.join(level)).is_err() {
            return;
        }
    }
}

fn escape(relative: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("the working directory {} is not a plain directory inside the job's folder", relative.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runtime(engine: Engine, runtime: Value) -> Result<Runtime, String> {
        of(engine, &json!({"configuration": {"runtime": runtime}})).map_err(|e| e.to_string())
    }

    #[test]
    fn env_and_working_dir_are_read_for_shell_and_python() {
        let got = runtime(
            Engine::Shell,
            json!({"env.GREETING": "hi", "env._n2": 5, "working.directory": "./out/day1/", "database": "x", "priority": 3}),
        )
        .unwrap();
        assert_eq!(got.env, vec![("GREETING".to_string(), "hi".to_string()), ("_n2".to_string(), "5".to_string())]);
        assert_eq!(got.working_dir, Some(PathBuf::from("out/day1")));
        let linkis = runtime(Engine::Python, json!({LINKIS_WORKING_DIRECTORY: "a"})).unwrap();
        assert_eq!(linkis.working_dir, Some(PathBuf::from("a")));
        assert_eq!(runtime(Engine::Shell, json!({"working.directory": "."})).unwrap().working_dir, None);
        assert_eq!(runtime(Engine::Sqlite, json!({"database": "sales"})).unwrap(), Runtime::default());
    }

    #[test]
    fn what_is_not_allowed_is_refused_naming_the_key() {
        for (engine, params, key) in [
            (Engine::Shell, json!({"env.LINKIS_TASK_ID": "1"}), "env.LINKIS_TASK_ID"),
            (Engine::Shell, json!({"env.portico_job": "1"}), "env.portico_job"),
            (Engine::Python, json!({"env.PYTHONUNBUFFERED": "0"}), "env.PYTHONUNBUFFERED"),
            (Engine::Shell, json!({"env.1A": "x"}), "env.1A"),
            (Engine::Shell, json!({"env.A-B": "x"}), "env.A-B"),
            (Engine::Shell, json!({"env.": "x"}), "env."),
            (Engine::Shell, json!({"env.A": "x\u{0}y"}), "env.A"),
            (Engine::Shell, json!({"env.A": {"b": 1}}), "env.A"),
            (Engine::Sqlite, json!({"env.A": "x"}), "env.A"),
            (Engine::Spark, json!({"env.A": "x"}), "env.A"),
            (Engine::Shell, json!({"working.directory": "../x"}), "working.directory"),
            (Engine::Shell, json!({"working.directory": "a/../../x"}), "working.directory"),
            (Engine::Shell, json!({"working.directory": "/tmp"}), "working.directory"),
            (Engine::Shell, json!({LINKIS_WORKING_DIRECTORY: "/tmp"}), LINKIS_WORKING_DIRECTORY),
            (Engine::Shell, json!({"working.directory": "a", LINKIS_WORKING_DIRECTORY: "b"}), LINKIS_WORKING_DIRECTORY),
            (Engine::Sqlite, json!({"working.directory": "a"}), "working.directory"),
            (Engine::Shell, json!({"working.directory": "a\nb"}), "working.directory"),
        ] {
            let error = runtime(engine, params.clone()).expect_err(&params.to_string());
            assert!(error.contains(&format!("Runtime parameter {key} is not allowed")), "{error}");
            assert!(error.contains("20010"), "{error}");
        }
        let big = "x".repeat(MAX_ENV_BYTES);
        assert!(runtime(Engine::Shell, json!({"env.BIG": big})).is_err());
    }

    #[test]
    fn the_working_dir_is_made_inside_and_a_symlink_cannot_lead_out() {
        let folder = tempfile::tempdir().unwrap();
        let work = folder.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let made = prepare_working_dir(&work, Some(Path::new("a/b"))).unwrap();
        assert_eq!(made, work.join("a/b"));
        assert!(made.is_dir());
        std::os::unix::fs::symlink(folder.path(), work.join("out")).unwrap();
        let error = prepare_working_dir(&work, Some(Path::new("out/x"))).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(!folder.path().join("x").exists());
        assert_eq!(prepare_working_dir(&work, None).unwrap(), work);

        let params = json!({"configuration": {"runtime": {"working.directory": "a/b"}}});
        std::fs::write(work.join("a/b/kept"), "x").unwrap();
        remove_empty_working_dir(&work, Engine::Shell, &params);
        assert!(work.join("a/b/kept").exists());
        std::fs::remove_file(work.join("a/b/kept")).unwrap();
        remove_empty_working_dir(&work, Engine::Shell, &params);
        assert!(!work.join("a").exists());
    }
}
