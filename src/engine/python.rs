//! Python jobs: the code is written to `job.py` in the job's working directory and run with
//! unbuffered output, so progress markers and prints reach the log as they happen and
//! tracebacks name a real file. Beside it goes `portico.py`, the helper a job imports to emit
//! table result sets (`from portico import show`); the job finds it because Python puts the
//! script's directory first on its path.
//!
//! The interpreter is `[engines] python`, or one the job chose with `python.version` (Linkis's
//! key, read from `params.configuration.runtime` or `startup`) among those the config lists in
//! `python_interpreters`: a job never names a program the operator did not allow.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{EngineError, Launch};
use crate::config::Config;

/// Linkis's key for the interpreter a python job wants.
pub const VERSION_KEY: &str = "python.version";

/// The job's code.
pub(super) const SCRIPT: &str = "job.py";
/// The result-set helper module.
pub(super) const HELPER: &str = "portico.py";

/// The helper's source, shipped inside the binary so jobs need nothing installed.
pub(super) const HELPER_SOURCE: &str = include_str!("portico.py");

pub(super) fn command(config: &Config, job: &Launch<'_>) -> Result<Command, EngineError> {
    let python = interpreter(config, job.params)?;
    let script = job.work_dir.join(SCRIPT);
    std::fs::write(&script, job.code)?;
    std::fs::write(job.work_dir.join(HELPER), HELPER_SOURCE)?;
    let mut command = Command::new(on_server_path(python));
    command.arg("-u").arg(script).env("PORTICO_RESULT_DIR", job.result_dir);
    Ok(command)
}

/// `program` as the server's own PATH finds it. A job may set its own PATH (`env.PATH`), and
/// a bare name would otherwise be looked up there, running an interpreter the config never
/// allowed under an allowed name.
fn on_server_path(program: &str) -> std::path::PathBuf {
    if program.contains('/') {
        return program.into();
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|meta| {
                use std::os::unix::fs::PermissionsExt;
                meta.is_file() && meta.permissions().mode() & 0o111 != 0
            })
        })
    });
    found.unwrap_or_else(|| program.into())
}

/// What a job asked for with `python.version`, if anything; a job asking differently in
/// `runtime` and `startup` is refused rather than guessed at.
pub(super) fn requested(params: &Value) -> Result<Option<&str>, EngineError> {
    let mut chosen = None;
    for place in ["/configuration/runtime", "/configuration/startup"] {
        let value = match params.pointer(place).and_then(|p| p.get(VERSION_KEY)) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(Value::String(s)) => s.trim(),
            Some(_) => return Err(EngineError::Refused(format!("{VERSION_KEY} must be a string"))),
        };
        match chosen {
            Some(first) if first != value => {
                return Err(EngineError::Refused(format!(
                    "{VERSION_KEY} is given twice, as {first:?} and {value:?}: give it once"
                )))
            }
            _ => chosen = Some(value),
        }
    }
    Ok(chosen)
}

/// The interpreter a python job runs with: the configured one, or the one it chose among those
/// the config allows, named by its path or (when that is unambiguous) by its file name.
pub(super) fn interpreter<'c>(config: &'c Config, params: &Value) -> Result<&'c str, EngineError> {
    let Some(wanted) = requested(params)? else { return Ok(&config.python) };
    let allowed: Vec<&str> =
        std::iter::once(config.python.as_str()).chain(config.python_interpreters.iter().map(String::as_str)).collect();
    if let Some(exact) = allowed.iter().find(|p| **p == wanted) {
        return Ok(exact);
    }
    let file_name = |p: &str| Path::new(p).file_name().and_then(|n| n.to_str()).map(str::to_string);
    let mut by_name = allowed.iter().filter(|p| file_name(p).as_deref() == Some(wanted));
    match (by_name.next(), by_name.next()) {
        (Some(only), None) => Ok(only),
        _ => {
            let shown: String = wanted.chars().take(200).flat_map(char::escape_default).collect();
            Err(EngineError::Refused(format!(
                "Runtime parameter {VERSION_KEY} is not allowed: {shown:?} is not an interpreter this server lets jobs \
                 choose; it allows {} (by path, or by file name when only one has it)",
                allowed.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_chooses_only_among_the_configured_interpreters() {
        let config = Config {
            python_interpreters: vec![
                "/opt/py311/bin/python3.11".into(),
                "/opt/a/bin/python".into(),
                "/opt/b/bin/python".into(),
            ],
            ..Config::default()
        };
        let choose = |params: Value| interpreter(&config, &params).map(str::to_string).map_err(|e| e.to_string());
        assert_eq!(choose(json!({})), Ok("python3".into()));
        assert_eq!(choose(json!({"configuration": {"runtime": {"python.version": "python3"}}})), Ok("python3".into()));
        assert_eq!(
            choose(json!({"configuration": {"runtime": {"python.version": "python3.11"}}})),
            Ok("/opt/py311/bin/python3.11".into())
        );
        assert_eq!(
            choose(json!({"configuration": {"startup": {"python.version": "/opt/b/bin/python"}}})),
            Ok("/opt/b/bin/python".into())
        );
        for refused in [
            json!({"configuration": {"runtime": {"python.version": "python"}}}),
            json!({"configuration": {"runtime": {"python.version": "/usr/bin/python2"}}}),
            json!({"configuration": {"runtime": {"python.version": 3}}}),
            json!({"configuration": {"runtime": {"python.version": "python3"}, "startup": {"python.version": "python3.11"}}}),
        ] {
            let error = choose(refused.clone()).expect_err(&refused.to_string());
            assert!(error.contains("python.version"), "{error}");
        }
    }
}
