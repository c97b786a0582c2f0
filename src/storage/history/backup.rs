//! A consistent copy of `history.db` while the server runs, with SQLite's online backup API.
//!
//! The copy is made from a read-only connection in a single backup step: one read transaction
//! sees one committed state of the database, and in WAL mode a reader never blocks the
//! writer, so jobs keep being accepted and ended while the copy is made. (Copying in several
//! steps would restart from the beginning whenever the server commits between two steps, and
//! under load might never finish.) It is written beside the destination under a temporary
//! name, switched out of WAL mode so that it is one self-contained file, checked with
//! `PRAGMA quick_check`, synced, and only then renamed into place: a destination that exists
//! is always a whole backup. This module never takes the data directory's lock, so a separate
//! `portico backup` process can use it against a running server.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::HistoryError;

/// What a backup produced.
#[derive(Clone, Debug)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Rows in the copy's job table.
    pub jobs: u64,
    pub took: Duration,
}

/// How long a backup keeps retrying while the source is locked (a checkpoint in progress).
const PATIENCE: Duration = Duration::from_secs(10);

/// Copies the history database `source` into the new file `dest`, which must not exist.
pub fn backup(source: &Path, dest: &Path) -> Result<BackupReport, HistoryError> {
    let started = Instant::now();
    let failed = |what: &str, e: &dyn std::fmt::Display| HistoryError(format!("back up the history: {what}: {e}"));
    if !source.is_file() {
        return Err(HistoryError(format!("there is no job history at {}", source.display())));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(HistoryError(format!("{} already exists; a backup never overwrites a file", dest.display())));
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = dest.with_file_name(format!(".{name}.partial-{}", crate::random::hex(4)));
    let result = copy_into(source, &partial).and_then(|jobs| {
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(|e| failed("sync the copy", &e))?;
        // A no-clobber rename (a file that appeared meanwhile under `dest` is not replaced),
        // or a plain one where the filesystem has no hard links.
        match std::fs::hard_link(&partial, dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(failed(&format!("create {}", dest.display()), &e));
            }
            Err(_) => std::fs::rename(&partial, dest).map_err(|e| failed(&format!("create {}", dest.display()), &e))?,
        }
        if let Some(dir) = dest.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(jobs)
    });
    let _ = std::fs::remove_file(&partial);
    let jobs = result?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { path: dest.to_path_buf(), bytes, jobs, took: started.elapsed() })
}

/// Makes the copy at `partial`; returns the number of job rows it holds.
fn copy_into(source: &Path, partial: &Path) -> Result<u64, HistoryError> {
    let failed = |what: &str, e: rusqlite::Error| HistoryError(format!("back up the history: {what}: {e}"));
    let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| failed("open the history read-only", e))?;
    from.busy_timeout(PATIENCE).map_err(|e| failed("set busy timeout", e))?;
    let mut to = Connection::open(partial).map_err(|e| failed("create the copy", e))?;
    {
        let backup = Backup::new(&from, &mut to).map_err(|e| failed("start", e))?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            match backup.step(-1).map_err(|e| failed("copy", e))? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(HistoryError("back up the history: the database stayed locked".into()))
                }
                _ => return Err(HistoryError("back up the history: an unexpected step result".into())),
            }
        }
    }
    to.pragma_update(None, "journal_mode", "DELETE").map_err(|e| failed("leave WAL mode", e))?;
    let check: String =
        to.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| failed("check the copy", e))?;
    if check != "ok" {
        return Err(HistoryError(format!("back up the history: the copy fails its check: {check}")));
    }
    let jobs: i64 = to.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0)).map_err(|e| failed("count jobs", e))?;
    to.close().map_err(|(_, e)| failed("close the copy", e))?;
    Ok(jobs.max(0) as u64)
}
