//! The jobs waiting for a worker, and the timer that ends those waiting too long.
//!
//! Lock order: the queue, then a job's live state; never the reverse. Pause and resume of a
//! queued job, and a worker taking the next job, decide under the queue lock, so a job is never
//! both taken and held, and a resume right behind a pause always sees it. What the queue must
//! not know: how a job runs, or HTTP. The start order and the bounds are `waiting.rs`'s.

mod waiting;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub(super) use self::waiting::Waiting;
pub use self::waiting::{Full, QueueLimits};
use super::finish::Ledger;
use super::store::JobEntry;
use super::{priority, wording, JobState};
use crate::sync::lock;

pub(super) struct JobQueue {
    limits: QueueLimits,
    jobs: Mutex<Waiting>,
    /// Signalled when a job is queued or released, and at shutdown: wakes idle workers.
    ready: Condvar,
    /// Signalled when a job with a queue-wait limit is queued or released, and at shutdown:
    /// wakes the timer to plan again.
    changed: Condvar,
}

impl JobQueue {
    pub(super) fn new(limits: QueueLimits) -> JobQueue {
        JobQueue { limits, jobs: Mutex::new(Waiting::default()), ready: Condvar::new(), changed: Condvar::new() }
    }

    /// Locks the queue, for decisions that must also read or change a job's live state.
    pub(super) fn lock(&self) -> MutexGuard<'_, Waiting> {
        lock(&self.jobs)
    }

    /// Holds a place in the queue for one more job of `user`, before the job has ids or
    /// files; refused at once when the queue or the user's share of it is full.
    pub(super) fn reserve(&self, user: &str) -> Result<Reservation<'_>, Full> {
        self.lock().reserve(user, &self.limits)?;
        Ok(Reservation { queue: self, user: user.to_string(), used: false })
    }

    /// Queues a job whatever the capacity (a restart queues again every job it found
    /// queued), and wakes a worker (and the timer, if the job has a wait limit).
    pub(super) fn push(&self, entry: Arc<JobEntry>) {
        self.push_into(&mut self.lock(), entry);
    }

    fn push_into(&self, jobs: &mut Waiting, entry: Arc<JobEntry>) {
        let limited = entry.spec.queuing_timeout.is_some();
        // Checked at submit; a row from an older version without it starts at the default.
        let rank = priority::of(&entry.spec.params).unwrap_or_default();
        jobs.insert(entry, rank);
        // Every idle worker looks: the first may find the job's user at their running cap.
        self.ready.notify_all();
        if limited {
            self.changed.notify_one();
        }
    }

    /// A job a worker took has left it: its user's running count drops, which may let a job
    /// held back by the cap start.
    pub(super) fn finished(&self, entry: &JobEntry) {
        self.lock().finished(&entry.spec.execute_user);
        self.ready.notify_all();
    }

    /// Takes a job out of the queue to end it, claiming its end under the queue lock (so a
    /// pause or kill right behind sees it ending); `false` if it was not there (a worker has
    /// it, or it is being submitted or ended).
    pub(super) fn remove_to_end(&self, entry: &Arc<JobEntry>) -> bool {
        let mut jobs = self.lock();
        if !jobs.contains(entry) || !Ledger::claim(&mut entry.live()) {
            return false;
        }
        jobs.remove(entry).is_some()
    }

    /// How many jobs not held by a pause are ahead of this one in the start order, while
    /// it waits.
    pub(super) fn position(&self, entry: &Arc<JobEntry>) -> Option<usize> {
        self.lock().position(entry)
    }

    /// Wakes everyone waiting on the queue: a job was released, or the server is stopping.
    /// Call it with the queue locked, so that no waiter can miss it.
    pub(super) fn wake_all(&self) {
        self.ready.notify_all();
        self.changed.notify_all();
    }

    /// Blocks until a job waits that no pause holds and whose user is below the running cap,
    /// and takes the first such in start order; `taken` runs under the
    /// queue lock as it is taken (the worker count goes up with no gap a shutdown could see).
    /// `None` once `stopping` is set.
    pub(super) fn take(&self, stopping: &AtomicBool, taken: impl Fn()) -> Option<Arc<JobEntry>> {
        let mut jobs = self.lock();
        loop {
            if stopping.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(entry) = jobs.take_next(&self.limits) {
                taken();
                return Some(entry);
            }
            jobs = self.ready.wait(jobs).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// [`Queue::take`] without waiting: `None` when no job can be taken right now.
    pub(super) fn try_take(&self, stopping: &AtomicBool, taken: impl Fn()) -> Option<Arc<JobEntry>> {
        let mut jobs = self.lock();
        if stopping.load(Ordering::SeqCst) {
            return None;
        }
        let entry = jobs.take_next(&self.limits)?;
        taken();
        Some(entry)
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
            let expired = jobs
                .take_where(|entry| deadline(entry).is_some_and(|at| at <= now) && Ledger::claim(&mut entry.live()));
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

/// A place held in the queue; [`Reservation::push`] fills it, dropping it gives it back.
pub(super) struct Reservation<'q> {
    queue: &'q JobQueue,
    user: String,
    used: bool,
}

impl Reservation<'_> {
    /// Queues the job in the place held for it.
    pub(super) fn push(mut self, entry: Arc<JobEntry>) {
        let mut jobs = self.queue.lock();
        // Queued before the place is given back, so the user's counts never drop to idle.
        self.queue.push_into(&mut jobs, entry);
        jobs.release(&self.user);
        self.used = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.queue.lock().release(&self.user);
        }
    }
}
