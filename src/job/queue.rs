//! The jobs waiting for a worker, and the timer that ends those waiting too long.
//!
//! Lock order: the queue, then a job's live state; never the reverse. Pause and resume of a
//! queued job, and a worker taking the next job, decide under the queue lock, so a job is never
//! both taken and held, and a resume right behind a pause always sees it. What the queue must
//! not know: how a job runs, or HTTP.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::finish::Ledger;
use super::store::JobEntry;
use super::{wording, JobState};
use crate::sync::lock;

/// The waiting jobs, oldest first.
pub(super) type Waiting = VecDeque<Arc<JobEntry>>;

pub(super) struct JobQueue {
    jobs: Mutex<Waiting>,
    /// Signalled when a job is queued or released, and at shutdown: wakes idle workers.
    ready: Condvar,
    /// Signalled when a job with a queue-wait limit is queued or released, and at shutdown:
    /// wakes the timer to plan again.
    changed: Condvar,
}

impl JobQueue {
    pub(super) fn new() -> JobQueue {
        JobQueue { jobs: Mutex::new(VecDeque::new()), ready: Condvar::new(), changed: Condvar::new() }
    }

    /// Locks the queue, for decisions that must also read or change a job's live state.
    pub(super) fn lock(&self) -> MutexGuard<'_, Waiting> {
        lock(&self.jobs)
    }

    /// Appends a job and wakes a worker (and the timer, if the job has a wait limit).
    pub(super) fn push(&self, entry: Arc<JobEntry>) {
        let limited = entry.spec.queuing_timeout.is_some();
        self.lock().push_back(entry);
        self.ready.notify_one();
        if limited {
            self.changed.notify_one();
        }
    }

    /// Takes a job out of the queue to end it, claiming its end under the queue lock (so a
    /// pause or kill right behind sees it ending); `false` if it was not there (a worker has
    /// it, or it is being submitted or ended).
    pub(super) fn remove_to_end(&self, entry: &Arc<JobEntry>) -> bool {
        let mut jobs = self.lock();
        let Some(position) = jobs.iter().position(|queued| Arc::ptr_eq(queued, entry)) else {
            return false;
        };
        if !Ledger::claim(&mut entry.live()) {
            return false;
        }
        jobs.remove(position).is_some()
    }

    /// How many jobs wait ahead of this one, while it waits.
    pub(super) fn position(&self, entry: &Arc<JobEntry>) -> Option<usize> {
        self.lock().iter().position(|queued| Arc::ptr_eq(queued, entry))
    }

    /// Wakes everyone waiting on the queue: a job was released, or the server is stopping.
    /// Call it with the queue locked, so that no waiter can miss it.
    pub(super) fn wake_all(&self) {
        self.ready.notify_all();
        self.changed.notify_all();
    }

    /// Blocks until a job not held by a pause waits, and takes it; `taken` runs under the
    /// queue lock as it is taken (the worker count goes up with no gap a shutdown could see).
    /// `None` once `stopping` is set.
    pub(super) fn take(&self, stopping: &AtomicBool, taken: impl Fn()) -> Option<Arc<JobEntry>> {
        let mut jobs = self.lock();
        loop {
            if stopping.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(i) = jobs.iter().position(|entry| !entry.live().paused) {
                taken();
                return jobs.remove(i);
            }
            jobs = self.ready.wait(jobs).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The queue timer's life: ends queued jobs that have waited longer than their
    /// `jobQueuingTimeout`, sleeping until the nearest such deadline (or until a job with a
    /// limit is queued or released). A job held by a pause is left alone here; its wait is
    /// checked again when a worker takes it.
    pub(super) fn run_timer(&self, stopping: &AtomicBool, ledger: &Ledger) {
        let mut jobs = self.lock();
        loop {
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            let deadline = |entry: &Arc<JobEntry>| {
                let limit = entry.spec.queuing_timeout?;
                if entry.live().paused {
                    return None;
                }
                entry.spec.created.checked_add(limit)
            };
            let mut expired = Vec::new();
            jobs.retain(|entry| {
                let over = deadline(entry).is_some_and(|at| at <= now) && Ledger::claim(&mut entry.live());
                if over {
                    expired.push(Arc::clone(entry));
                }
                !over
            });
            if !expired.is_empty() {
                drop(jobs);
                for entry in expired {
                    let limit = entry.spec.queuing_timeout.unwrap_or_default();
                    let reason = wording::over_queue_time(entry.spec.created.elapsed(), limit);
                    ledger.end_claimed_unstarted(&entry, JobState::Timeout, None, &reason);
                }
                jobs = self.lock();
                continue;
            }
            let next = jobs.iter().filter_map(deadline).min();
            jobs = match next {
                Some(at) => self
                    .changed
                    .wait_timeout(jobs, at.saturating_duration_since(now))
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|e| e.into_inner().0),
                None => self.changed.wait(jobs).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}
