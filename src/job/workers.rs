//! The worker threads: a fixed pool, each taking the next job and running it to its end.
//!
//! A panic while running a job (a bug) must not cost the pool a worker or leave the job
//! `Running` for ever: it is caught here, the job's processes are killed, and the job ends
//! `Failed`. What workers must not know: HTTP, or the queue's order.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;

use super::finish::Ending;
use super::scheduler::Shared;
use super::starts::Starts;
use super::store::JobEntry;
use super::{control, finish, runner, JobState};
use crate::sync::lock;

/// The pool and how many of its threads have a job right now.
pub(super) struct Workers {
    pool: Mutex<Option<ThreadPool>>,
    busy: Mutex<usize>,
    /// Signalled when `busy` drops.
    idle: Condvar,
}

impl Workers {
    pub(super) fn new() -> Workers {
        Workers { pool: Mutex::new(None), busy: Mutex::new(0), idle: Condvar::new() }
    }

    /// Starts `count` worker threads on `shared`.
    pub(super) fn start(shared: &Arc<Shared>, count: usize) {
        let pool = ThreadPool::with_name("portico-worker".into(), count);
        for worker in 0..count {
            let shared = Arc::clone(shared);
            pool.execute(move || worker_loop(&shared, worker));
        }
        *lock(&shared.workers.pool) = Some(pool);
    }

    /// Waits up to `grace` for every worker to be without a job; returns how many still have one.
    pub(super) fn wait_idle(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut busy = lock(&self.busy);
        while *busy > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            busy = self.idle.wait_timeout(busy, left).map(|(guard, _)| guard).unwrap_or_else(|e| e.into_inner().0);
        }
        *busy
    }

    /// Waits for every worker thread to leave (once the queue has told them to stop).
    pub(super) fn join(&self) {
        if let Some(pool) = lock(&self.pool).take() {
            pool.join();
        }
    }
}

/// One worker thread's life: take the next job, run it to its end, repeat.
///
/// The end of the job run last is decided but not yet committed when the next is taken: it
/// is committed together with the next job's start (one disk flush for both, whenever the
/// history next commits: `starts.rs`), and on its own when no job can be taken at once. Every
/// end is shown before the worker waits for work or leaves, so a shutdown (which joins the
/// workers before it closes the history) never loses one.
fn worker_loop(shared: &Shared, worker: usize) {
    let workers = &shared.workers;
    let count_busy = || *lock(&workers.busy) += 1;
    let mut previous: Option<(Arc<JobEntry>, Ending)> = None;
    let mut previous_busy: Option<BusyGuard<'_>> = None;
    let mut starts = Starts::new(worker);
    loop {
        let next = match previous {
            Some(_) => shared.queue.try_take(&shared.stopping, count_busy),
            None => {
                // Every end this worker decided is shown before it waits for work.
                starts.confirm_all(&shared.ledger);
                shared.queue.take(&shared.stopping, count_busy)
            }
        };
        let Some(entry) = next else {
            let Some((ended, ending)) = previous.take() else { break };
            shared.ledger.settle(&ended, ending, false);
            drop(previous_busy.take());
            continue;
        };
        let busy = BusyGuard(workers);
        // The new job counts the worker as busy from here: the previous end, settled while
        // this job runs, needs no count of its own any more.
        drop(previous_busy.take());
        let running = RunningGuard(shared, &entry);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner::run(&shared.config, &shared.ledger, &mut starts, &entry, &mut previous)
        }));
        // An end the run did not commit with its start (it never got that far) is committed now.
        if let Some((ended, ending)) = previous.take() {
            shared.ledger.settle(&ended, ending, false);
        }
        match ran {
            Ok(Some(ending)) => {
                // The job's processes are gone: its user may start another while its end
                // commits (with a cap of one, both may show Running for that moment).
                drop(running);
                previous = Some((Arc::clone(&entry), ending));
                previous_busy = Some(busy);
            }
            Ok(None) => {}
            Err(_) => {
                log::error!("job {}: the worker running it panicked; ending the job as Failed", entry.spec.task_id);
                // Its processes are killed before its user's place is given back.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fail_after_panic(shared, &entry)));
                drop(running);
            }
        }
    }
    starts.confirm_all(&shared.ledger);
}

/// Kills the group of a job whose worker panicked and ends the job `Failed`.
fn fail_after_panic(shared: &Shared, entry: &JobEntry) {
    let pgid = entry.live().pgid;
    if let Some(pgid) = pgid {
        let _ = control::signal_group(pgid, libc::SIGKILL);
    }
    entry.close_log();
    // Forced: the panic may have come after the runner claimed the end.
    shared.ledger.end_claimed(entry, |live| {
        live.state = JobState::Failed;
        live.err_code = Some(finish::INTERNAL_ERROR_CODE);
        live.err_desc = Some("Portico failed while running this job (see the server log); it was stopped.".into());
    });
}

/// Counts a job on a worker until dropped, however the worker leaves the job (even by a panic).
struct BusyGuard<'a>(&'a Workers);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut busy = lock(&self.0.busy);
        *busy = busy.saturating_sub(1);
        // Only a shutdown waits, and only for none: a wake-up (a system call) a job was waste.
        if *busy == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// Counts a job against its user's running cap until dropped, however the worker leaves it.
struct RunningGuard<'a>(&'a Shared, &'a JobEntry);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.queue.finished(self.1);
    }
}
