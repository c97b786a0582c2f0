//! A job's start on its worker: the durable record that it may have started, then its
//! process. What a started job does next is the runner's (`mod.rs`).

use std::sync::Arc;

use crate::config::Config;
use crate::job::child;
use crate::job::finish::Ledger;
use crate::job::limits::Confinement;
use crate::job::starts::Starts;
use crate::job::store::JobEntry;
use crate::job::{wording, JobState};
use crate::storage::log_file::Level;

/// Starts `entry`'s process, once its start is recorded; `None` (the job ended here) if it
/// must not start or cannot.
pub(super) fn spawn(
    config: &Config,
    ledger: &Ledger,
    starts: &mut Starts,
    entry: &Arc<JobEntry>,
) -> Option<(std::process::Child, Confinement)> {
    let task_id = entry.spec.task_id;
    let history = &ledger.history;
    // Durable before the process starts: after a crash, a journal slot or a `Running` row
    // means "may have started", so recovery never runs the job a second time. Without that
    // record it must not start.
    let not_recorded = |e: std::io::Error| {
        let reason = format!("the server could not record the job's start, so it was not started: {e}");
        ledger.end_unstarted(entry, JobState::Failed, &reason);
    };
    let flush = match starts.journal(ledger, task_id) {
        Ok(flush) => flush,
        Err(e) => {
            not_recorded(e);
            return None;
        }
    };
    // A kill that arrived while the worker was taking the job: it must not start at all.
    let killed_by = entry.live().kill_requested_by.clone();
    if let Some(by) = killed_by {
        ledger.end_unstarted(entry, JobState::Cancelled, &wording::killed_by(&by));
        return None;
    }
    log::info!("job {task_id} Scheduled");
    entry.log_held(Level::Info, wording::SCHEDULED);

    let confinement = match Confinement::for_job(task_id) {
        Ok(confinement) => confinement,
        Err(e) => {
            let reason = format!("cannot set up the job's process and memory limits: {e}");
            ledger.end_unstarted(entry, JobState::Failed, &reason);
            return None;
        }
    };
    let cannot_start = |e: std::io::Error| {
        let reason = format!("cannot start the {} engine: {e}", entry.spec.engine.name());
        ledger.end_unstarted(entry, JobState::Failed, &reason);
    };
    // Prepared while the journal's slot is being written out: only the spawn waits for it.
    let mut command = match child::prepare(config, entry, &child::job_marker(history, task_id), &confinement) {
        Ok(command) => command,
        Err(e) => {
            cannot_start(e);
            return None;
        }
    };
    if let Err(e) = flush.wait() {
        not_recorded(e);
        return None;
    }
    match command.spawn() {
        Ok(child) => Some((child, confinement)),
        Err(e) => {
            cannot_start(e);
            None
        }
    }
}
