//! Kill, pause and resume: what each request does to a job, queued or running. A queued job
//! is taken out of the queue (kill) or held there (pause) under the queue lock; a started
//! job's intent is stored in its live state and its worker is woken to act on it. What this
//! must not know: HTTP, or how a process is signalled (the job's worker does that).

use std::sync::Arc;

use super::super::record::pause_update;
use super::super::store::JobEntry;
use super::super::view::JobView;
use super::super::{wording, JobState, TaskId};
use super::Scheduler;
use crate::storage::log_file::Level;

/// What a kill request did.
#[derive(Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// The job had not started: it left the queue and is `Cancelled`.
    Dequeued,
    /// The job is running: its worker is terminating the process group.
    Signalled,
    /// The job had already ended in this state; nothing changed.
    AlreadyEnded(JobState),
    /// The job is already ending (its process has exited, or it is being ended); nothing
    /// changed.
    AlreadyEnding,
}

/// What a kill, pause or resume did, with the job's state and pause flag right after it (so
/// the answer needs no second lookup of the job).
#[derive(Debug)]
pub struct Settled<O> {
    pub outcome: O,
    pub state: JobState,
    pub paused: bool,
}

impl<O> Settled<O> {
    pub(super) fn after(outcome: O, entry: &JobEntry) -> Settled<O> {
        let live = entry.live();
        Settled { outcome, state: live.state, paused: live.paused }
    }
}

/// What a pause or resume request did.
#[derive(Debug, PartialEq, Eq)]
pub enum PauseOutcome {
    /// The job is queued: it is held in (or released back to) the queue.
    Queued,
    /// The job is running: its worker is stopping (or continuing) the process group.
    Signalled,
    /// Already in the asked-for state; nothing changed.
    Unchanged,
    /// The job had already ended in this state.
    AlreadyEnded(JobState),
}

impl Scheduler {
    /// The state of a job no longer in memory, from its row (`fallback` if it cannot be read).
    fn ended_state(&self, task_id: TaskId, fallback: JobState) -> JobState {
        self.view(&task_id.to_string()).map_or(fallback, |job| job.state)
    }

    /// Kills a job on behalf of `by`: dequeues it if it has not started, has its worker
    /// terminate it otherwise.
    pub fn kill(&self, job: &JobView, by: &str) -> Settled<KillOutcome> {
        match self.shared.ledger.store.get(job.task_id) {
            Some(entry) => Settled::after(self.kill_entry(&entry, by), &entry),
            None => {
                let state = self.ended_state(job.task_id, job.state);
                Settled { outcome: KillOutcome::AlreadyEnded(state), state, paused: false }
            }
        }
    }

    pub(super) fn kill_entry(&self, entry: &Arc<JobEntry>, by: &str) -> KillOutcome {
        let shared = &self.shared;
        if shared.queue.remove_to_end(entry) {
            shared.ledger.end_claimed_unstarted(entry, JobState::Cancelled, None, &wording::killed_by(by));
            return KillOutcome::Dequeued;
        }
        let mut live = entry.live();
        if live.state.is_terminal() {
            return KillOutcome::AlreadyEnded(live.state);
        }
        if live.ending || live.process_exited {
            return KillOutcome::AlreadyEnding;
        }
        if live.kill_requested_by.is_none() {
            live.kill_requested_by = Some(by.to_string());
        }
        drop(live);
        entry.wake();
        KillOutcome::Signalled
    }

    /// Pauses a job: holds it in the queue, or has its worker stop its process group.
    pub fn pause(&self, job: &JobView, by: &str) -> Settled<PauseOutcome> {
        self.set_paused(job, by, true)
    }

    /// Resumes a paused job: releases it to the queue, or has its worker continue its group.
    pub fn resume(&self, job: &JobView, by: &str) -> Settled<PauseOutcome> {
        self.set_paused(job, by, false)
    }

    fn set_paused(&self, job: &JobView, by: &str, pause: bool) -> Settled<PauseOutcome> {
        match self.shared.ledger.store.get(job.task_id) {
            Some(entry) => Settled::after(self.set_paused_entry(&entry, by, pause), &entry),
            None => {
                let state = self.ended_state(job.task_id, job.state);
                Settled { outcome: PauseOutcome::AlreadyEnded(state), state, paused: false }
            }
        }
    }

    /// The intent is stored and the history told while the locks are held (none of it
    /// blocks), so a resume right behind a pause always sees it and everything stays in order;
    /// a queued job's pause is waited for after they are let go.
    fn set_paused_entry(&self, entry: &Arc<JobEntry>, by: &str, pause: bool) -> PauseOutcome {
        let mut queue = self.shared.queue.lock();
        let queued = queue.contains(entry);
        let mut live = entry.live();
        if live.state.is_terminal() {
            return PauseOutcome::AlreadyEnded(live.state);
        }
        // Nothing to do: already so, or the job is ending (a pause also waits on no kill).
        let unchanged = live.ending
            || if pause {
                live.paused || live.kill_requested_by.is_some() || live.process_exited
            } else {
                !live.paused
            };
        if unchanged {
            return PauseOutcome::Unchanged;
        }
        if pause {
            live.pause();
        } else {
            live.resume();
        }
        live.pause_changed_by = Some(by.to_string());
        queue.set_held(entry, pause);
        if !queued {
            entry.wake();
            return PauseOutcome::Signalled;
        }
        // Queued under the locks, so pauses and resumes reach the history in their order, and
        // waited for once they are let go: a client told its queued job is paused must not
        // see it run after a crash.
        let task_id = entry.spec.task_id;
        let commit = self.shared.ledger.history.update_queued(task_id, pause_update(pause, live.paused_for()));
        drop(live);
        if !pause {
            // Woken under the queue lock so a waiting worker or the queue timer cannot miss it.
            self.shared.queue.wake_all();
        }
        drop(queue);
        if let Err(e) = commit.and_then(|commit| commit.wait()) {
            log::error!("job {task_id}: cannot record its pause in the history: {e}");
        }
        let line = if pause { wording::paused_in_queue(by) } else { wording::resumed_in_queue(by) };
        entry.log_event(Level::Info, &line);
        PauseOutcome::Queued
    }
}
