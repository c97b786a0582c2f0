//! What retention reads from and writes to the history: ended jobs whose files are kept,
//! oldest end first, in small pages; their measured size; the flag that their files are gone;
//! and the deletion of old rows.
//!
//! Every query is on a partial index of ended rows (`jobs_with_files`, `jobs_unmeasured`) or
//! on `jobs_by_time`, and pages by a cursor `(time, id)` rather than by offset, so a sweep over
//! a million rows costs one short read per page and never holds a read transaction for long.
//! A row that has not ended is never selected, and the writes check `ended = 1` again.

use std::path::PathBuf;

use super::writer::Write;
use super::{History, HistoryError};

/// An ended job, as retention needs it to measure or remove its files.
#[derive(Clone, Debug, PartialEq)]
pub struct FilesOfJob {
    pub task_id: u64,
    pub execute_user: String,
    pub log_path: PathBuf,
    pub result_dir: PathBuf,
    pub work_dir: PathBuf,
    pub created_ms: u64,
    pub ended_ms: u64,
    /// What its files measured, once measured.
    pub files_bytes: Option<u64>,
    /// When retention removed its files, if it has.
    pub files_removed_ms: Option<u64>,
    /// The bytes of its log's lines kept in the row, for a log that is not a file.
    pub held_log_bytes: u64,
}

/// Where a page of rows starts: after this `(time, taskID)`.
pub type Cursor = (u64, u64);

/// The first cursor: before every row.
pub const CURSOR_START: Cursor = (0, 0);

const FILES_COLUMNS: &str =
    "id, execute_user, log_path, result_dir, work_dir, created_ms, ended_ms, files_bytes, files_removed_ms, \
     COALESCE(length(held_log), 0)";

fn files_of_job(row: &rusqlite::Row<'_>) -> rusqlite::Result<FilesOfJob> {
    Ok(FilesOfJob {
        task_id: row.get(0)?,
        execute_user: row.get(1)?,
        log_path: PathBuf::from(row.get::<_, String>(2)?),
        result_dir: PathBuf::from(row.get::<_, String>(3)?),
        work_dir: PathBuf::from(row.get::<_, String>(4)?),
        created_ms: row.get(5)?,
        ended_ms: row.get::<_, Option<u64>>(6)?.unwrap_or(0),
        files_bytes: row.get(7)?,
        files_removed_ms: row.get(8)?,
        held_log_bytes: row.get(9)?,
    })
}

/// Epoch milliseconds as SQLite compares them (it stores signed 64-bit integers).
fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl History {
    /// Ended jobs whose files are kept and that ended before `ended_before_ms`, after `after`,
    /// oldest end first: what age and size retention remove.
    pub fn files_kept(
        &self,
        ended_before_ms: u64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<FilesOfJob>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {FILES_COLUMNS} FROM jobs INDEXED BY jobs_with_files
                 WHERE ended = 1 AND files_removed_ms IS NULL AND ended_ms < ?1 AND (ended_ms, id) > (?2, ?3)
                 ORDER BY ended_ms, id LIMIT ?4"
            ))?
            .query_map(
                rusqlite::params![sql_ms(ended_before_ms), sql_ms(after.0), sql_ms(after.1), limit as i64],
                files_of_job,
            )?
            .collect()
        })
    }

    /// Ended jobs whose kept files have not been measured yet, after `after`, oldest end first.
    pub fn files_unmeasured(&self, after: Cursor, limit: usize) -> Result<Vec<FilesOfJob>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {FILES_COLUMNS} FROM jobs INDEXED BY jobs_unmeasured
                 WHERE ended = 1 AND files_removed_ms IS NULL AND files_bytes IS NULL AND (ended_ms, id) > (?1, ?2)
                 ORDER BY ended_ms, id LIMIT ?3"
            ))?
            .query_map(rusqlite::params![sql_ms(after.0), sql_ms(after.1), limit as i64], files_of_job)?
            .collect()
        })
    }

    /// The bytes the kept files of ended jobs measured, summed (unmeasured ones count 0).
    pub fn files_kept_bytes(&self) -> Result<u64, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT COALESCE(SUM(files_bytes), 0) FROM jobs INDEXED BY jobs_with_files
                 WHERE ended = 1 AND files_removed_ms IS NULL",
            )?
            .query_row([], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
        })
    }

    /// Rows of jobs created and ended before `before_ms`, after `after` (by creation),
    /// oldest first: what the history cap deletes.
    pub fn rows_ended_before(
        &self,
        before_ms: u64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<FilesOfJob>, HistoryError> {
        // A job ends after it is created, so every such row is on the creation-time index
        // below the cutoff; the few created earlier but still going (or ended since) are
        // stepped over.
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {FILES_COLUMNS} FROM jobs INDEXED BY jobs_by_time
                 WHERE created_ms < ?1 AND ended = 1 AND ended_ms < ?1 AND (created_ms, id) > (?2, ?3)
                 ORDER BY created_ms, id LIMIT ?4"
            ))?
            .query_map(
                rusqlite::params![sql_ms(before_ms), sql_ms(after.0), sql_ms(after.1), limit as i64],
                files_of_job,
            )?
            .collect()
        })
    }

    /// Records what these ended jobs' files measured (taskID, bytes); waits for the commit.
    pub fn record_files_measured(&self, sizes: Vec<(u64, u64)>) -> Result<(), HistoryError> {
        if sizes.is_empty() {
            return Ok(());
        }
        self.send(Write::FilesMeasured(sizes), true)
    }

    /// Records that these ended jobs' files were removed at `at_ms`; waits for the commit.
    pub fn record_files_removed(&self, task_ids: Vec<u64>, at_ms: u64) -> Result<(), HistoryError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        self.send(Write::FilesRemoved(task_ids, at_ms), true)
    }

    /// Deletes these ended jobs' rows; waits for the commit. Their taskIDs are never handed
    /// out again (the table's AUTOINCREMENT sequence keeps counting).
    pub fn delete_rows(&self, task_ids: Vec<u64>) -> Result<(), HistoryError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        self.send(Write::Delete(task_ids), true)
    }
}
