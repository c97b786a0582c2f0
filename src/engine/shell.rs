//! Shell jobs: `sh -c <code>`, as the Linkis shell engine runs them.

use std::path::Path;
use std::process::Command;

/// The script file of code too long for one argument.
pub(super) const SCRIPT: &str = "job.sh";

/// Longest code passed as one argument; Linux refuses single arguments over 128 KiB.
const MAX_INLINE_CODE: usize = 100 * 1024;

pub(super) fn command(shell: &str, code: &str, work_dir: &Path) -> std::io::Result<Command> {
    let mut command = Command::new(shell);
    if code.len() <= MAX_INLINE_CODE {
        command.arg("-c").arg(code);
    } else {
        let script = work_dir.join(SCRIPT);
        std::fs::write(&script, code)?;
        command.arg(script);
    }
    Ok(command)
}
