//! How a job's end is recorded and shown: committed to the history first, then published to
//! clients, so that no client ever sees an end a crash could take back.

use std::time::Duration;

use super::record::final_update;
use super::store::{JobEntry, JobLive};
use super::wording;
use super::JobState;
use crate::clock;
use crate::engine::Engine;
use crate::storage::history::{History, JobUpdate};
use crate::storage::log_file::Level;

/// The error code recorded for a job that a server restart interrupted.
pub const INTERRUPTED_ERROR_CODE: i64 = 50099;

/// The error code recorded for a job whose worker failed (a bug in Portico).
pub const INTERNAL_ERROR_CODE: u32 = 50098;

/// Commits a job's final row, retrying a failing history for a few seconds (a full disk may
/// free up); logs and returns `false` if it never succeeds, in which case the job stays in
/// memory, where its end is still visible, and the failure is in the server log.
fn commit_with_retries(history: &History, task_id: u64, update: &JobUpdate) -> bool {
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

/// Writes an update to the job's history row; failures are logged by the history itself.
pub(super) fn record(history: &History, task_id: u64, update: JobUpdate, wait: bool) {
    if let Err(e) = history.update(task_id, update, wait) {
        log::error!("job {task_id}: cannot update its history row: {e}");
    }
}

/// Ends a job that never got a process (killed in the queue, queue timeout, engine missing).
/// Returns whether the end is committed to the history.
pub fn end_unstarted(history: &History, entry: &JobEntry, state: JobState, reason: &str) -> bool {
    entry.log_event(Level::Error, &wording::failed_with(reason));
    entry.log_event(Level::Info, &wording::completion(state));
    entry.close_log();
    let committed = publish_end(history, entry, |live| {
        live.state = state;
        live.err_code = Some(error_code(entry.spec.engine, state));
        live.err_desc = Some(reason.to_string());
    });
    log::info!("job {} {state}: {reason}", entry.spec.task_id);
    committed
}

/// Records a job's end in the history and waits for the commit, then shows it to clients: a
/// client never sees an end that a crash could take back. `end` sets the outcome; progress,
/// pause and end time are set here. Returns whether the history has it (only then may the job
/// leave memory). A job that has already ended is left as it is.
pub fn publish_end(history: &History, entry: &JobEntry, end: impl FnOnce(&mut JobLive)) -> bool {
    let mut ended = entry.live().clone();
    if ended.state.is_terminal() {
        return true;
    }
    end(&mut ended);
    ended.progress = 1.0;
    let paused_for = ended.paused_for();
    ended.paused = false;
    ended.paused_since = None;
    ended.paused_before = paused_for;
    ended.ended_at_ms = Some(clock::now_millis());
    let committed = commit_with_retries(history, entry.spec.task_id, &final_update(&ended));
    let mut live = entry.live();
    if !live.state.is_terminal() {
        *live = ended;
    }
    committed
}

/// Linkis error codes for a job that did not succeed.
pub(super) fn error_code(engine: Engine, state: JobState) -> u32 {
    match (state, engine) {
        (JobState::Cancelled, _) => 50036,
        (JobState::Timeout, _) => 50037,
        (_, Engine::Shell) => 50037,
        (_, Engine::Python) => 60002,
    }
}
