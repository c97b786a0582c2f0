//! The start journal: which job each worker is about to start, durable before the job's
//! process is spawned, so that recovery never runs a job a second time.
//!
//! A job that may have started must not run again after a crash. The history row saying so
//! (`Scheduled`) used to be committed, and waited for, before the spawn: a round trip through
//! the history's writer thread and a SQLite commit on every job's path, which under load took
//! longer than spawning the job. The journal is a file of zeros made once, with a ring of
//! [`SLOTS_PER_WORKER`] 8-byte slots per worker, on a page of its own: the worker writes its
//! next job's taskID into its next slot and flushes it (one `fdatasync` of one page, from the
//! worker's own thread), and the job's row (`Running`, once the process runs) is committed
//! later (`starts.rs`). A worker never has more starts waiting for their rows than it has
//! slots, so by the time it overwrites a slot, the row of the job it held is durable. A job
//! that may have started thus always has, after a crash, either a `Running` (or later) row or
//! its taskID in the journal; recovery treats a queued row whose taskID is in the journal as
//! one that may have started.
//!
//! What it must not know: SQLite, or what a job is beyond its taskID.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::starts::SLOTS_PER_WORKER;

const SLOT_BYTES: u64 = 8;

/// Bytes between two workers' rings: a page each, so one worker's write never waits for the
/// page another's flush is writing out, nor makes it dirty again.
const RING_BYTES: u64 = 4096;
const _: () = assert!(SLOTS_PER_WORKER as u64 * SLOT_BYTES <= RING_BYTES, "a ring fits its page");

/// The open journal: [`SLOTS_PER_WORKER`] slots per worker.
pub struct StartJournal {
    file: File,
    workers: usize,
}

impl StartJournal {
    /// Opens the journal at `path` with the slots of at least `workers` workers, creating it
    /// (zeros, flushed) if needed. Returns it with the taskIDs its slots held: the jobs the
    /// previous run's workers last started, for recovery.
    pub fn open(path: &Path, workers: usize) -> io::Result<(StartJournal, Vec<u64>)> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut bytes, 0)?;
        let started: Vec<u64> = bytes
            .chunks_exact(SLOT_BYTES as usize)
            .filter_map(|slot| slot.try_into().ok().map(u64::from_le_bytes))
            .filter(|task_id| *task_id != 0)
            .collect();
        let wanted = workers.max(1) as u64 * RING_BYTES;
        if len < wanted {
            // Written out, not just sized: a slot in a hole or an unwritten extent would make
            // each later flush a change of the file's layout as well as of its data.
            file.write_all_at(&vec![0u8; (wanted - len) as usize], len)?;
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok((StartJournal { file, workers: workers.max(1) }, started))
    }

    /// Records that worker `worker` is about to start job `task_id`, in its slot `slot`
    /// (counted on; taken round its ring): durably once the returned [`Flush`] is waited for.
    pub fn starting(&self, worker: usize, slot: u64, task_id: u64) -> io::Result<Flush<'_>> {
        let ring = (worker % self.workers) as u64 * RING_BYTES;
        let offset = ring + (slot % SLOTS_PER_WORKER as u64) * SLOT_BYTES;
        self.file.write_all_at(&task_id.to_le_bytes(), offset)?;
        // On its way to the disk at once, while the worker prepares the process; the flush then
        // waits only for what is left of the write, and for the disk's cache. (A failure here
        // only leaves the whole write to the flush.)
        // SAFETY: sync_file_range on our own descriptor, within the file.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset as libc::off64_t,
                SLOT_BYTES as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        Ok(Flush(&self.file))
    }
}

/// A start written to the journal and not yet known durable: the job must not start before
/// [`Flush::wait`] returns `Ok`.
#[must_use = "a start is only durable once its flush is waited for"]
pub struct Flush<'a>(&'a File);

impl Flush<'_> {
    pub fn wait(self) -> io::Result<()> {
        self.0.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slots_hold_the_last_jobs_of_each_workers_ring_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("starts");
        let ring = SLOTS_PER_WORKER as u64;
        let (journal, started) = StartJournal::open(&path, 2).unwrap();
        assert!(started.is_empty(), "a new journal names no job");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * RING_BYTES);
        journal.starting(0, 0, 7).unwrap().wait().unwrap();
        journal.starting(1, 0, 8).unwrap().wait().unwrap();
        journal.starting(0, 1, 9).unwrap().wait().unwrap();
        // A whole turn later, worker 0's first slot is taken again.
        journal.starting(0, ring, 11).unwrap().wait().unwrap();
        drop(journal);
        let (journal, mut started) = StartJournal::open(&path, 3).unwrap();
        started.sort_unstable();
        assert_eq!(started, vec![8, 9, 11], "the jobs of the slots not taken again since");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * RING_BYTES, "grown for a third worker");
        journal.starting(2, 5, 10).unwrap().wait().unwrap();
        drop(journal);
        let (_, mut started) = StartJournal::open(&path, 1).unwrap();
        started.sort_unstable();
        assert_eq!(started, vec![8, 9, 10, 11], "fewer workers now: every slot is still read");
    }
}
