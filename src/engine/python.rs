//! Python jobs: the code is written to `job.py` in the job's working directory and run with
//! unbuffered output, so progress markers and prints reach the log as they happen and
//! tracebacks name a real file. Beside it goes `portico.py`, the helper a job imports to emit
//! table result sets (`from portico import show`); the job finds it because Python puts the
//! script's directory first on its path.

use std::process::Command;

use super::Launch;

/// The job's code.
pub(super) const SCRIPT: &str = "job.py";
/// The result-set helper module.
pub(super) const HELPER: &str = "portico.py";

/// The helper's source, shipped inside the binary so jobs need nothing installed.
pub(super) const HELPER_SOURCE: &str = include_str!("portico.py");

pub(super) fn command(python: &str, job: &Launch<'_>) -> std::io::Result<Command> {
    let script = job.work_dir.join(SCRIPT);
    std::fs::write(&script, job.code)?;
    std::fs::write(job.work_dir.join(HELPER), HELPER_SOURCE)?;
    let mut command = Command::new(python);
    command.arg("-u").arg(script).env("PORTICO_RESULT_DIR", job.result_dir);
    Ok(command)
}
