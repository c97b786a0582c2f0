//! How a job ends, whichever way it ends: claimed once, committed to the history, then shown
//! to clients (so no client ever sees an end a crash could take back), then evicted from
//! memory. If the commit fails after retries, the end is shown anyway and the job stays in
//! memory so that it is not lost; the server log says why. The one end that does not come
//! here is recovery's for a history row this server cannot read back (no job to end: only the
//! row is closed). What this must not know: HTTP, or how a job was run.

use std::time::Duration;

use super::record::final_update;
use super::start_journal::StartJournal;
use super::store::{JobEntry, JobLive, JobStore};
use super::wording;
use super::JobState;
use crate::clock;
use crate::engine::Engine;
use crate::storage::history::{History, JobUpdate};
use crate::storage::log_file::Level;

/// The error code recorded for a job that a server restart interrupted.
pub const INTERRUPTED_ERROR_CODE: u32 = 50099;

/// The error code recorded for a job whose worker failed (a bug in Portico).
pub const INTERNAL_ERROR_CODE: u32 = 50098;

/// Commits a job's final row, retrying a failing history for a few seconds (a full disk may
/// free up); logs and returns `false` if it never succeeds, in which case the job stays in
/// memory, where its end is still visible, and the failure is in the server log.
pub(super) fn commit_with_retries(history: &History, task_id: u64, update: &JobUpdate) -> bool {
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=5 {
        match history.update(task_id, update.clone(), true) {
            Ok(()) => return true,
            Err(e) if attempt == 5 => {
                log::error!("job {task_id}: cannot record how it ended, keeping it in memory: {e}");
            }
            Err(e) => {
                log::warn!("job {task_id}: recording how it ended failed ({e}); retrying in {wait:?}");
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
    }
    false
}

/// The jobs the server answers for: the history (what is true) and the store (those still in
/// memory). Every way a job ends goes through [`Ledger::settle`], which shows the end once it
/// is committed and then evicts the job from memory.
pub struct Ledger {
    pub history: History,
    pub store: JobStore,
    /// Which job each worker is starting, durable before its process starts.
    pub journal: StartJournal,
}

impl Ledger {
    /// Takes on ending a job: `false` if it has ended or someone else is ending it. Callers
    /// that take a job out of the queue to end it claim it under the queue lock, so a pause or
    /// kill arriving meanwhile sees the job is ending.
    pub(super) fn claim(live: &mut JobLive) -> bool {
        if live.state.is_terminal() || live.ending {
            return false;
        }
        live.ending = true;
        true
    }

    /// Ends a job that never got a process (engine missing, the history unable to record its
    /// start, interrupted by a restart) with the engine's Linkis error code for `state`.
    pub fn end_unstarted(&self, entry: &JobEntry, state: JobState, reason: &str) {
        if Ledger::claim(&mut entry.live()) {
            self.end_claimed_unstarted(entry, state, None, reason);
        }
    }

    /// [`Ledger::end_unstarted`] for a job whose end the caller has already claimed; `code`
    /// replaces the engine's error code for `state` when the end has a code of its own.
    pub(super) fn end_claimed_unstarted(&self, entry: &JobEntry, state: JobState, code: Option<u32>, reason: &str) {
        let code = code.unwrap_or_else(|| error_code(entry.spec.engine, state));
        // Carried by the end's commit if the log is still held (`Ending::decided`).
        entry.log_held(Level::Error, &wording::failed_with(reason));
        entry.log_held(Level::Info, &wording::completion(state));
        entry.close_log();
        self.end_claimed(entry, |live| {
            live.state = state;
            live.err_code = Some(code);
            live.err_desc = Some(reason.to_string());
        });
        log::info!("job {} {state}: {reason}", entry.spec.task_id);
    }

    /// Ends a job whose end the caller has claimed (or must force: a worker that panicked
    /// while ending it): commits the end (with retries) and waits, then shows it to clients (a
    /// client never sees an end that a crash could take back), then evicts the job from
    /// memory, where its history row answers for it from then on. `outcome` sets the state and
    /// errors; progress, pause and end time are set here. If the commit fails for good the job
    /// stays in memory, where its end is still shown (and the failure is in the server log).
    pub(super) fn end_claimed(&self, entry: &JobEntry, outcome: impl FnOnce(&mut JobLive)) {
        if let Some(ending) = Ending::decided(entry, outcome) {
            self.settle(entry, ending, false);
        }
    }

    /// Decides a job's end without committing it: a worker hands it to
    /// [`super::starts::Starts::started`] of its next job, so the two share one commit, or to
    /// [`Ledger::settle`]. Until then the job shows as it was. `None` if the job has ended or
    /// someone else is ending it.
    pub(super) fn decide_end(&self, entry: &JobEntry, outcome: impl FnOnce(&mut JobLive)) -> Option<Ending> {
        if Ledger::claim(&mut entry.live()) {
            Ending::decided(entry, outcome)
        } else {
            None
        }
    }

    /// Shows a decided end to clients and evicts the job from memory, once its commit is done
    /// (`committed`) or here, with retries; see [`Ledger::end_claimed`].
    pub(super) fn settle(&self, entry: &JobEntry, ending: Ending, committed: bool) {
        let Ending { ended, update } = ending;
        let committed = committed || commit_with_retries(&self.history, entry.spec.task_id, &update);
        {
            let mut live = entry.live();
            if !live.state.is_terminal() {
                let counted = live.counted_as;
                *live = ended;
                live.counted_as = counted;
                super::tally::tally(&entry.spec, &mut live);
            }
        }
        if committed {
            self.store.remove(entry.spec.task_id);
        }
    }

    /// Writes an update to a job's history row without waiting; failures are logged.
    pub(super) fn record(&self, task_id: u64, update: JobUpdate) {
        if let Err(e) = self.history.update(task_id, update, false) {
            log::error!("job {task_id}: cannot update its history row: {e}");
        }
    }
}

/// A job's end, decided (final state, figures, end time) but not yet committed or shown.
pub struct Ending {
    ended: JobLive,
    pub(super) update: JobUpdate,
}

impl Ending {
    /// The end `outcome` gives the job now; `None` if it has ended already.
    fn decided(entry: &JobEntry, outcome: impl FnOnce(&mut JobLive)) -> Option<Ending> {
        let mut ended = entry.live().clone();
        if ended.state.is_terminal() {
            return None;
        }
        outcome(&mut ended);
        ended.progress = 1.0;
        let paused_for = ended.paused_for();
        ended.paused = false;
        ended.paused_since = None;
        ended.paused_before = paused_for;
        ended.ended_at_ms = Some(clock::now_millis());
        // A log still held in memory is made durable by this commit, with its closing lines;
        // one that became a file has its row's lines emptied, so nothing remakes it from them
        // (after retention removed it, say).
        let update = JobUpdate { held_log: Some(entry.held_log().unwrap_or_default()), ..final_update(&ended) };
        Some(Ending { ended, update })
    }
}

/// Linkis error codes for a job that did not succeed.
pub(super) fn error_code(engine: Engine, state: JobState) -> u32 {
    match (state, engine) {
        (JobState::Cancelled, _) => 50036,
        (JobState::Timeout, _) => 50037,
        (_, engine) => engine.failure_code(),
    }
}
