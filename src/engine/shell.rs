//! Shell jobs: `sh -c <code>`, as the Linkis shell engine runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The script file of code too long for one argument.
pub(super) const SCRIPT: &str = "job.sh";

/// Longest code passed as one argument; Linux refuses single arguments over 128 KiB.
const MAX_INLINE_CODE: usize = 100 * 1024;

pub(super) fn command(shell: &str, code: &str, work_dir: &Path) -> std::io::Result<Command> {
    let mut command = Command::new(&*on_path(shell));
    if code.len() <= MAX_INLINE_CODE {
        command.arg("-c").arg(code);
    } else {
        let script = work_dir.join(SCRIPT);
        std::fs::write(&script, code)?;
        command.arg(script);
    }
    Ok(command)
}

/// Where `shell` is on the server's `PATH`, found once: started by its bare name, every job's
/// spawn tried each `PATH` directory before it (nine `execve` calls a job on a machine whose
/// `PATH` starts with tool shims), in the child the worker waits for. A name with a `/`, or
/// one not found, is used as it is (the spawn then says what is wrong).
fn on_path(shell: &str) -> Arc<PathBuf> {
    static FOUND: Mutex<Vec<(String, Arc<PathBuf>)>> = Mutex::new(Vec::new());
    let mut found = crate::sync::lock(&FOUND);
    if let Some((_, path)) = found.iter().find(|(name, _)| name == shell) {
        return Arc::clone(path);
    }
    let path = Arc::new(search_path(shell).unwrap_or_else(|| PathBuf::from(shell)));
    found.push((shell.to_string(), Arc::clone(&path)));
    path
}

/// The first executable file named `name` in the directories of `PATH`.
fn search_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        return None;
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).filter(|dir| dir.is_absolute()).map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_found_on_the_path_once_and_a_path_is_kept_as_it_is() {
        let sh = on_path("sh");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert!(Arc::ptr_eq(&sh, &on_path("sh")), "looked up once");
        assert_eq!(*on_path("/bin/sh"), PathBuf::from("/bin/sh"));
        assert_eq!(*on_path("no-such-shell-here"), PathBuf::from("no-such-shell-here"));
    }
}
