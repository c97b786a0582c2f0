//! One sweep: the history cap, then files by age, then files by total size.
//!
//! Each step reads ended jobs a page at a time (oldest first, by a cursor), removes their
//! files on this thread, and then records the page in one write that the history's writer
//! commits among the jobs' own writes: no lock is held while files are removed, and the
//! database is never busy for more than one small page. Files go before the row says so: a
//! crash in between leaves a row that the next sweep removes again (finding nothing), never
//! a row claiming files are gone while they are still on disk. A job whose files cannot be
//! removed is logged, stepped over and tried again by the next sweep.

use crate::clock;
use crate::config::RetentionSettings;
use crate::data_dir::Layout;
use crate::storage::history::{Cursor, FilesOfJob, History, HistoryError, CURSOR_START};

use super::files;

/// Rows read, and then recorded, at a time.
const PAGE: usize = 100;

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Jobs whose files were removed (their rows stay).
    pub files_removed: u64,
    /// Rows deleted with their files by the history cap.
    pub rows_deleted: u64,
    /// What the removed files measured.
    pub bytes: u64,
}

pub(super) struct Sweep<'a> {
    pub history: &'a History,
    pub layout: &'a Layout,
    pub settings: &'a RetentionSettings,
    /// Asked between pages: the server is stopping, leave the rest for the next start.
    pub stopping: &'a dyn Fn() -> bool,
    /// Told the task ids of rows the history cap is about to delete.
    pub deleting: &'a dyn Fn(&[crate::job::TaskId]),
    /// Told them again once the delete is over (done or failed).
    pub deleted: &'a dyn Fn(&[crate::job::TaskId]),
    pub now_ms: u64,
}

/// Why a job's files are removed, for its line in the server log.
enum Reason {
    Age,
    Size(u64),
}

impl Sweep<'_> {
    pub(super) fn run(&self) -> Result<Swept, HistoryError> {
        let mut swept = Swept::default();
        if let Some(age) = self.settings.history_max_age {
            self.cap_history(self.cutoff(age), &mut swept)?;
        }
        if let Some(age) = self.settings.max_age {
            self.by_age(self.cutoff(age), &mut swept)?;
        }
        if let Some(max_bytes) = self.settings.max_bytes {
            self.measure()?;
            self.by_size(max_bytes, &mut swept)?;
        }
        Ok(swept)
    }

    fn cutoff(&self, age: std::time::Duration) -> u64 {
        self.now_ms.saturating_sub(age.as_millis().try_into().unwrap_or(u64::MAX))
    }

    /// Deletes the rows of jobs that ended before `cutoff`, with their files.
    fn cap_history(&self, cutoff: u64, swept: &mut Swept) -> Result<(), HistoryError> {
        let mut cursor = CURSOR_START;
        while !(self.stopping)() {
            // No log of these jobs is made from its row between their removal and its record.
            let _removing = crate::storage::log_file::ended_logs_lock();
            let page = self.history.rows_ended_before(cutoff, cursor, PAGE)?;
            let Some(last) = page.last() else { break };
            cursor = (last.created_ms, last.task_id);
            let mut deleted = Vec::new();
            for job in &page {
                let bytes = if job.files_removed_ms.is_none() { files::measure(self.layout, job) } else { 0 };
                if job.files_removed_ms.is_none() && !self.removed(job) {
                    continue;
                }
                log::info!(
                    "retention: job {} ({}) deleted from the history with its files ({bytes} bytes): it ended {}, \
                     longer ago than retention.history_max_age",
                    job.task_id,
                    job.execute_user,
                    clock::log_timestamp(job.ended_ms),
                );
                swept.bytes += bytes;
                deleted.push(job.task_id);
            }
            swept.rows_deleted += deleted.len() as u64;
            (self.deleting)(&deleted);
            let outcome = self.history.delete_rows(deleted.clone());
            (self.deleted)(&deleted);
            outcome?;
        }
        Ok(())
    }

    /// Removes the files of jobs that ended before `cutoff`.
    fn by_age(&self, cutoff: u64, swept: &mut Swept) -> Result<(), HistoryError> {
        let mut cursor = CURSOR_START;
        while !(self.stopping)() {
            // No log of these jobs is made from its row between their removal and its record.
            let _removing = crate::storage::log_file::ended_logs_lock();
            let page = self.history.files_kept(cutoff, cursor, PAGE)?;
            let Some(last) = page.last() else { break };
            cursor = (last.ended_ms, last.task_id);
            let removed = page.iter().filter(|job| self.remove(job, &Reason::Age, swept)).map(|j| j.task_id).collect();
            self.history.record_files_removed(removed, self.now_ms)?;
        }
        Ok(())
    }

    /// Records the size of the files of jobs that ended since the last sweep.
    fn measure(&self) -> Result<(), HistoryError> {
        let mut cursor = CURSOR_START;
        while !(self.stopping)() {
            let page = self.history.files_unmeasured(cursor, PAGE)?;
            let Some(last) = page.last() else { break };
            cursor = (last.ended_ms, last.task_id);
            let sizes = page.iter().map(|job| (job.task_id, files::measure(self.layout, job))).collect();
            self.history.record_files_measured(sizes)?;
        }
        Ok(())
    }

    /// Removes the files of the jobs that ended first until the rest take at most `max_bytes`.
    fn by_size(&self, max_bytes: u64, swept: &mut Swept) -> Result<(), HistoryError> {
        let mut total = self.history.files_kept_bytes()?;
        let mut cursor: Cursor = CURSOR_START;
        while total > max_bytes && !(self.stopping)() {
            // No log of these jobs is made from its row between their removal and its record.
            let _removing = crate::storage::log_file::ended_logs_lock();
            let page = self.history.files_kept(u64::MAX, cursor, PAGE)?;
            let Some(last) = page.last() else { break };
            cursor = (last.ended_ms, last.task_id);
            let mut removed = Vec::new();
            for job in &page {
                if total <= max_bytes {
                    break;
                }
                if self.remove(job, &Reason::Size(max_bytes), swept) {
                    total = total.saturating_sub(job.files_bytes.unwrap_or(0));
                    removed.push(job.task_id);
                }
            }
            self.history.record_files_removed(removed, self.now_ms)?;
        }
        Ok(())
    }

    /// Removes one job's files and logs it; `false` (logged) if they could not all be removed.
    fn remove(&self, job: &FilesOfJob, reason: &Reason, swept: &mut Swept) -> bool {
        let bytes = job.files_bytes.unwrap_or_else(|| files::measure(self.layout, job));
        if !self.removed(job) {
            return false;
        }
        let why = match reason {
            Reason::Age => "longer ago than retention.max_age".to_string(),
            Reason::Size(max) => {
                format!("first of the ended jobs whose files took more than retention.max_bytes ({max})")
            }
        };
        log::info!(
            "retention: job {} ({}) files removed ({bytes} bytes; its log, result sets and working directory): it ended \
             {}, {why}",
            job.task_id,
            job.execute_user,
            clock::log_timestamp(job.ended_ms),
        );
        swept.files_removed += 1;
        swept.bytes += bytes;
        true
    }

    fn removed(&self, job: &FilesOfJob) -> bool {
        match files::remove(self.layout, job, self.now_ms) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("retention: job {}: cannot remove its files, trying again next sweep: {e}", job.task_id);
                false
            }
        }
    }
}
