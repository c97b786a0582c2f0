//! "What is this job now?", answered with one owned value.
//!
//! A [`JobView`] is a copy taken in one go: from the live state while the job is in memory
//! (queued or running), from its history row once it has ended. Handlers format it and hold no
//! lock while they do; they never see a store entry or a mutex (the history endpoints get rows,
//! with live status overlaid here), and an ended job's view is built straight from its row,
//! never by rebuilding a live entry. [`Resources`], the figures a view carries, live here too.
//! What a view must not know: HTTP, JSON, or how the job is run.

use std::path::PathBuf;
use std::time::Duration;

pub use super::spark_watch::SparkApp;
use super::store::{JobEntry, JobLive, StageCounts};
use super::{JobState, TaskId};
use crate::storage::history::JobRecord;

/// A job's resource use, summed over its process group.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resources {
    /// CPU seconds (user + system), including reaped children.
    pub cpu_seconds: f64,
    /// Resident memory now.
    pub memory_bytes: u64,
    /// The largest resident memory seen.
    pub peak_memory_bytes: u64,
    /// Live processes in the group now.
    pub processes: u32,
}

impl Resources {
    /// Takes a new sample, keeping the peak and never letting CPU time go backwards.
    pub fn update(&mut self, sample: Resources) {
        self.cpu_seconds = self.cpu_seconds.max(sample.cpu_seconds);
        self.memory_bytes = sample.memory_bytes;
        self.processes = sample.processes;
        self.peak_memory_bytes = self.peak_memory_bytes.max(sample.memory_bytes).max(sample.peak_memory_bytes);
    }
}

/// One job as a client may see it now.
#[derive(Clone, Debug)]
pub struct JobView {
    pub task_id: TaskId,
    pub exec_id: String,
    pub submit_user: String,
    pub execute_user: String,
    pub log_path: PathBuf,
    pub state: JobState,
    /// In [0, 1]: 1 once ended, at most 0.99 before.
    pub progress: f64,
    /// The `progressInfo` counts; none before the job starts.
    pub stages: Option<StageCounts>,
    pub paused: bool,
    /// Time spent paused so far, the current pause included.
    pub paused_for: Duration,
    pub exit_code: Option<i32>,
    /// Jobs ahead of this one while it waits in the queue.
    pub queue_position: Option<usize>,
    /// Live figures while it runs (sampled once a second, and when first looked at), final
    /// ones once it has ended.
    pub resources: Resources,
    /// A running Spark job's application and executors, as its driver reports them.
    pub spark: Option<SparkApp>,
}

impl JobView {
    /// The view of a job in memory, from a copy of its live state.
    pub(super) fn of_entry(entry: &JobEntry, queue_position: Option<usize>) -> JobView {
        let live = entry.live_sampled();
        let spec = &entry.spec;
        JobView {
            task_id: spec.task_id,
            exec_id: spec.exec_id.clone(),
            submit_user: spec.submit_user.clone(),
            execute_user: spec.execute_user.clone(),
            log_path: spec.log_path.clone(),
            state: live.state,
            progress: shown_progress(live.state, live.progress),
            stages: stages(live.state, live.reported_stages),
            paused: live.paused,
            paused_for: live.paused_for(),
            exit_code: live.exit_code,
            queue_position,
            resources: live.resources,
            spark: live.spark,
        }
    }

    /// The view of a job from its history row: an ended job, or one from before a restart.
    /// `None` if the row's state is not one this server knows.
    pub(super) fn of_record(record: &JobRecord) -> Option<JobView> {
        let state = JobState::parse(&record.status)?;
        Some(JobView {
            task_id: record.task_id,
            exec_id: record.exec_id.clone(),
            submit_user: record.submit_user.clone(),
            execute_user: record.execute_user.clone(),
            log_path: PathBuf::from(&record.log_path),
            state,
            progress: shown_progress(state, record.progress),
            stages: stages(state, reported_stages(record)),
            paused: record.paused && !state.is_terminal(),
            paused_for: Duration::from_millis(record.paused_ms),
            exit_code: record.exit_code.and_then(|c| i32::try_from(c).ok()),
            queue_position: None,
            resources: Resources {
                cpu_seconds: record.cpu_seconds.unwrap_or(0.0),
                peak_memory_bytes: record.peak_memory_bytes.unwrap_or(0),
                ..Resources::default()
            },
            spark: None,
        })
    }
}

/// Overlays what a job in memory is doing now on its history row, whose status and progress
/// are only written at the job's milestones.
pub(super) fn overlay_live(record: &mut JobRecord, live: &JobLive) {
    record.status = live.state.as_str().to_string();
    record.progress = shown_progress(live.state, live.progress);
}

/// The stage counts a job reported with `n/m` markers, as its row keeps them.
pub(super) fn reported_stages(record: &JobRecord) -> Option<StageCounts> {
    match (record.stage_succeed, record.stage_total) {
        (Some(succeed), Some(total)) => Some(StageCounts { succeed, failed: 0, running: 0, total }),
        _ => None,
    }
}

fn shown_progress(state: JobState, progress: f64) -> f64 {
    if state.is_terminal() {
        1.0
    } else {
        progress.clamp(0.0, 0.99)
    }
}

/// The `progressInfo` counts clients see in `state`, from what the job reported, if anything.
pub(super) fn stages(state: JobState, reported: Option<StageCounts>) -> Option<StageCounts> {
    match state {
        JobState::Inited | JobState::WaitForRetry | JobState::Scheduled => None,
        JobState::Running => Some(reported.unwrap_or(StageCounts { succeed: 0, failed: 0, running: 1, total: 1 })),
        JobState::Succeed => {
            let total = reported.map_or(1, |r| r.total.max(1));
            Some(StageCounts { succeed: total, failed: 0, running: 0, total })
        }
        JobState::Failed | JobState::Cancelled | JobState::Timeout => {
            let r = reported.unwrap_or(StageCounts { succeed: 0, failed: 0, running: 0, total: 1 });
            let failed = r.total.saturating_sub(r.succeed).max(1);
            Some(StageCounts { succeed: r.succeed, failed, running: 0, total: r.succeed.saturating_add(failed) })
        }
    }
}
