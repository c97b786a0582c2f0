//! Empty working directories kept for the next job. On ext4, making a directory searches the
//! inode table past the inodes deleted recently (`recently_deleted`), so making and removing
//! one directory per job grows slow exactly when jobs are many and short: it was 7% of all CPU
//! in the job throughput benchmark (3,000 `true` jobs), more than spawning the job. A job's
//! directory that ends empty is renamed to a spare beside it, and the next job's directory is
//! a spare renamed into place: a rename allocates no inode. A directory the job left files in
//! is never a spare (its files stay for its owner). It must not know what a job is.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sync::lock;

/// Spares kept at most, over every working root of the process: enough for the workers of a
/// busy server to find one each time.
const MAX_SPARES: usize = 16;

/// How a spare's name starts; no job's directory (its taskID) can be named so.
const PREFIX: &str = ".spare-";

static SPARES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The mode of a directory this process made afresh: a job may have changed its own
/// directory's (`chmod 700 .`), and such a directory is not handed to another job.
static FRESH_MODE: OnceLock<u32> = OnceLock::new();

fn mode(dir: &Path) -> Option<u32> {
    std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir()).map(|m| m.permissions().mode() & 0o7777)
}

/// Makes the empty directory `dir` (and its parents), from a spare beside it if there is one.
pub fn make(dir: &Path) -> io::Result<()> {
    let parent = dir.parent();
    let spare = {
        let mut spares = lock(&SPARES);
        spares.iter().rposition(|s| s.parent() == parent).map(|i| spares.swap_remove(i))
    };
    if let Some(spare) = spare {
        if std::fs::rename(&spare, dir).is_ok() {
            return Ok(());
        }
        let _ = std::fs::remove_dir(&spare);
    }
    std::fs::create_dir_all(dir)?;
    if let Some(mode) = mode(dir) {
        FRESH_MODE.get_or_init(|| mode);
    }
    Ok(())
}

/// Removes the directory `dir` if it is empty, keeping it as a spare when there is room.
pub fn retire(dir: &Path) {
    let empty = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
    if empty {
        retire_empty(dir);
    }
}

/// [`retire`] for a directory the caller has just listed and found empty, once the job's
/// processes are gone.
pub fn retire_empty(dir: &Path) {
    let as_made = FRESH_MODE.get().is_some_and(|fresh| mode(dir) == Some(*fresh));
    if let (Some(parent), true) = (dir.parent(), as_made) {
        let mut spares = lock(&SPARES);
        if spares.len() < MAX_SPARES {
            let name = format!("{PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let spare = parent.join(name);
            if std::fs::rename(dir, &spare).is_ok() {
                spares.push(spare);
                return;
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Removes the spares under `root` that an earlier server left (it stopped with them unused),
/// and forgets this process's own there: called once a server starts on `root`.
pub fn clear(root: &Path) {
    lock(&SPARES).retain(|s| s.parent() != Some(root));
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(PREFIX) {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_directory_becomes_the_next_one_and_a_used_one_stays() {
        let root = tempfile::tempdir().unwrap();
        let first = root.path().join("1");
        make(&first).unwrap();
        assert!(first.is_dir());
        retire(&first);
        assert!(!first.exists());
        let spares = || std::fs::read_dir(root.path()).unwrap().count();
        assert_eq!(spares(), 1, "kept as a spare");
        let second = root.path().join("2");
        make(&second).unwrap();
        assert!(second.is_dir() && std::fs::read_dir(&second).unwrap().next().is_none());
        assert_eq!(spares(), 1, "the spare became the new directory");
        std::fs::write(second.join("kept"), "x").unwrap();
        retire(&second);
        assert!(second.join("kept").exists(), "a directory with files stays as it is");
        std::fs::remove_file(second.join("kept")).unwrap();
        std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o701)).unwrap();
        retire(&second);
        assert_eq!(spares(), 0, "a directory whose mode the job changed is removed, not kept");
        clear(root.path());
        assert_eq!(spares(), 0);
        let third = root.path().join("3");
        make(&third).unwrap();
        assert!(third.is_dir());
    }
}
