//! Restart recovery: accounting for the jobs a previous run of the server left unfinished.
//!
//! Runs once at start-up, before any worker. Queued jobs are queued again; jobs that were
//! starting or running are marked `Failed` (never run twice), and whatever they left running is
//! killed, but only processes proven to be theirs. It must not know HTTP or the queue's order.

use std::sync::Arc;

use super::finish::{self, Ledger};
use super::queue::JobQueue;
use super::record::{entry_from_record, status_update};
use super::{child, control, JobError, JobState};
use crate::clock;
use crate::storage::history::{History, JobRecord, JobUpdate};
use crate::storage::log_file::{Level, LogWriter};

/// Accounts for the jobs a previous run left unfinished: queued ones are queued again;
/// running ones are stopped (their processes killed if still alive) and end `Failed`.
/// `started` are the jobs the start journal says workers were starting: one whose row still
/// says queued may have started all the same.
pub(super) fn recover(ledger: &Ledger, queue: &JobQueue, started: &[u64]) -> Result<(), JobError> {
    let history = &ledger.history;
    let unfinished = history.unfinished().map_err(|e| JobError::storage("read the job history", e))?;
    if unfinished.is_empty() {
        return Ok(());
    }
    let boot_id = control::boot_id();
    let (mut requeued, mut failed) = (0, 0);
    for record in unfinished {
        let Some(entry) = entry_from_record(&record) else {
            log::error!("job {} has an unreadable history row; marking it Failed", record.task_id);
            fail_unreadable(history, &record);
            failed += 1;
            continue;
        };
        // A log that was not a file yet: its lines are in the row, and go on from there. A file
        // shorter than them was cut short by the crash (made, but not all on disk): the row's
        // lines replace it when the log is next written.
        match history.held_log(record.task_id) {
            Ok(Some(lines)) if !lines.is_empty() => {
                let on_disk = std::fs::metadata(&entry.spec.log_path).map_or(0, |m| m.len());
                if on_disk < lines.len() as u64 {
                    entry.keep_log(LogWriter::held(&entry.spec.log_path, lines));
                }
            }
            Ok(_) => {}
            Err(e) => log::error!("job {}: cannot read the lines of its log: {e}", record.task_id),
        }
        let interrupted = if record.status == JobState::Running.as_str() {
            Some("The server restarted while the job was running; the job was stopped and did not finish.")
        } else if record.status == JobState::Scheduled.as_str() || started.contains(&record.task_id) {
            // It may have started a process before the crash: never run it a second time.
            Some("The server restarted while the job was starting; the job was stopped and did not finish.")
        } else {
            None
        };
        if let Some(reason) = interrupted {
            let killed = kill_leftovers(&record, &child::job_marker(history, record.task_id), boot_id.as_deref());
            if killed > 0 {
                entry.log_event(
                    Level::Warn,
                    &format!("Killed {killed} processes the job left running across the restart."),
                );
            }
            if Ledger::claim(&mut entry.live()) {
                ledger.end_claimed_unstarted(&entry, JobState::Failed, Some(finish::INTERRUPTED_ERROR_CODE), reason);
            }
            failed += 1;
            continue;
        }
        {
            let mut live = entry.live();
            live.state = JobState::Inited;
            super::tally::tally(&entry.spec, &mut live);
        }
        let update = status_update(JobState::Inited);
        if let Err(e) = history.update(record.task_id, update, true) {
            log::error!("job {}: cannot record its requeueing: {e}", record.task_id);
        }
        entry.log_event(Level::Info, "The server restarted: the job is queued again.");
        let entry = Arc::new(entry);
        ledger.store.insert(Arc::clone(&entry));
        queue.push(entry);
        requeued += 1;
    }
    log::warn!("restart recovery: {requeued} queued jobs queued again, {failed} interrupted jobs marked Failed");
    Ok(())
}

/// Ends a job whose row this server cannot read back (an engine it lacks, a state it does not
/// know): there is no job to end, so only its row is closed.
fn fail_unreadable(history: &History, record: &JobRecord) {
    let update = JobUpdate {
        progress: Some(1.0),
        ended_ms: Some(clock::now_millis()),
        err_code: Some(i64::from(finish::INTERRUPTED_ERROR_CODE)),
        err_desc: Some("The job's history record could not be read after a restart.".to_string()),
        paused: Some(false),
        ..status_update(JobState::Failed)
    };
    if let Err(e) = history.update(record.task_id, update, true) {
        log::error!("job {}: cannot record that it was interrupted: {e}", record.task_id);
    }
}

/// Kills what an interrupted job left running and returns how many processes that was. A
/// process is the job's if its environment carries the job's marker (`PORTICO_JOB`: this
/// history's random id and the taskID, so unique across data directories and restarts), or if
/// it is in the job's recorded process group while that group's leader is alive and provably
/// the job's (same boot, same start time). Each process is pinned before it is checked again
/// and signalled, so a reused pid is never hit.
fn kill_leftovers(record: &JobRecord, marker: &str, boot_id: Option<&str>) -> usize {
    let var = child::JOB_MARKER_VAR;
    let mut killed = Vec::new();
    for pid in control::processes_with_env(var, marker) {
        if control::kill_if(pid, || control::has_env(pid, var, marker)) {
            killed.push(pid);
        }
    }
    let same_boot = boot_id.is_some() && record.boot_id.as_deref() == boot_id;
    if let (Some(pgid), Some(start_ticks), true) =
        (record.pgid.and_then(|p| i32::try_from(p).ok()), record.pgid_start_ticks, same_boot)
    {
        let leader_is_ours =
            || control::read_stat(pgid).is_some_and(|leader| leader.start_ticks == start_ticks && leader.pgrp == pgid);
        if leader_is_ours() {
            for member in control::group_members(pgid) {
                if killed.contains(&member.pid) {
                    continue;
                }
                let in_group = || control::read_stat(member.pid).is_some_and(|p| p.pgrp == pgid) && leader_is_ours();
                if control::kill_if(member.pid, in_group) {
                    killed.push(member.pid);
                }
            }
        }
    }
    if !killed.is_empty() {
        log::warn!("job {}: killed {} processes left from before the restart", record.task_id, killed.len());
    }
    killed.len()
}
