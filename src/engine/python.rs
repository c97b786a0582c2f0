//! Python jobs: the code is written to `job.py` in the job's working directory and run with
//! unbuffered output, so progress markers and prints reach the log as they happen and
//! tracebacks name a real file.

use std::path::Path;
use std::process::Command;

pub(super) fn command(python: &str, code: &str, work_dir: &Path) -> std::io::Result<Command> {
    let script = work_dir.join("job.py");
    std::fs::write(&script, code)?;
    let mut command = Command::new(python);
    command.arg("-u").arg(script);
    Ok(command)
}
