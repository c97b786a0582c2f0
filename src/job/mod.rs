//! The job domain: what a job is, its states, and how it is scheduled and run.
//!
//! Nothing in `job/` knows about HTTP. Handlers turn requests into a [`request::JobRequest`],
//! hand it to the [`scheduler::Scheduler`], and read a job back as a [`view::JobView`] (an
//! owned copy; no lock, entry or history row leaves `job/` except the history endpoints' rows);
//! every failure comes back as a [`JobError`] that the HTTP layer maps to the Linkis envelope.

mod admission;
mod child;
mod control;
mod ended;
pub mod exec_id;
mod finish;
mod io_threads;
mod job_io;
mod limits;
mod pipes;
mod priority;
mod queue;
mod record;
mod recovery;
pub mod request;
mod runner;
pub mod scheduler;
mod spare_dirs;
mod spark_watch;
mod start_journal;
mod starts;
mod store;
mod tally;
pub mod view;
mod wording;
mod workers;

use std::fmt;

use serde::Serialize;

/// The numeric job id clients call `taskID`. It never repeats.
pub type TaskId = u64;

/// The task id `text` names, written as clients write one: ASCII digits only, within SQLite's
/// integers. `u64::from_str` also takes a leading `+`, which would let `+1` (or `%2B1`) name
/// job 1; such a text, like any other that is not a taskID, can only be an execID.
pub fn task_id_of(text: &str) -> Option<TaskId> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<TaskId>().ok().filter(|n| *n <= i64::MAX as u64)
}

/// The eight Linkis job states, spelled exactly as clients parse them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum JobState {
    /// Accepted and waiting in the queue.
    Inited,
    /// Kept for wire compatibility; Portico does not retry jobs yet.
    WaitForRetry,
    /// Taken by a worker; the process is being started.
    Scheduled,
    /// The process is running (possibly paused: see `paused`).
    Running,
    Succeed,
    Failed,
    /// Killed by a user or by the server.
    Cancelled,
    /// Ran or waited longer than its timeout label allows.
    Timeout,
}

impl JobState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Inited => "Inited",
            JobState::WaitForRetry => "WaitForRetry",
            JobState::Scheduled => "Scheduled",
            JobState::Running => "Running",
            JobState::Succeed => "Succeed",
            JobState::Failed => "Failed",
            JobState::Cancelled => "Cancelled",
            JobState::Timeout => "Timeout",
        }
    }

    /// The final states.
    pub const ENDED: [JobState; 4] = [JobState::Succeed, JobState::Failed, JobState::Cancelled, JobState::Timeout];

    /// Whether the job has ended; a terminal state never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeed | JobState::Failed | JobState::Cancelled | JobState::Timeout)
    }

    /// Parses a wire name; anything else is refused, as Linkis refuses it.
    pub fn parse(name: &str) -> Option<JobState> {
        [
            JobState::Inited,
            JobState::WaitForRetry,
            JobState::Scheduled,
            JobState::Running,
            JobState::Succeed,
            JobState::Failed,
            JobState::Cancelled,
            JobState::Timeout,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong in the job domain, in terms a client can act on.
#[derive(Debug)]
pub enum JobError {
    /// The submission breaks a Linkis rule; `code` is the Linkis error code for it.
    InvalidRequest { code: u32, desc: String },
    /// The server could not do its part (disk full, cannot create a directory…).
    Storage { what: String, reason: String },
    /// The server is shutting down and takes no new jobs.
    ShuttingDown,
    /// The queue, or the user's share of it, is full: nothing was recorded; retry later.
    QueueFull { desc: String, retry_after_secs: u64 },
}

/// Linkis's error code for a submission refused because the queue is full.
pub const QUEUE_FULL_CODE: u32 = 12001;

impl JobError {
    pub(crate) fn invalid(code: u32, desc: impl Into<String>) -> JobError {
        JobError::InvalidRequest { code, desc: desc.into() }
    }

    pub(crate) fn storage(what: impl Into<String>, reason: impl fmt::Display) -> JobError {
        JobError::Storage { what: what.into(), reason: reason.to_string() }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::InvalidRequest { code, desc } => write!(f, "error {code}: {desc}"),
            JobError::Storage { what, reason } => write!(f, "{what}: {reason}"),
            JobError::ShuttingDown => f.write_str("the server is shutting down"),
            JobError::QueueFull { desc, .. } => write!(f, "error {QUEUE_FULL_CODE}: {desc}"),
        }
    }
}

impl std::error::Error for JobError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_and_unknown_names_are_refused() {
        for name in ["Inited", "WaitForRetry", "Scheduled", "Running", "Succeed", "Failed", "Cancelled", "Timeout"] {
            assert_eq!(JobState::parse(name).map(JobState::as_str), Some(name));
        }
        assert_eq!(JobState::parse("Success"), None);
        assert!(!JobState::Inited.is_terminal());
        assert!(JobState::Succeed.is_terminal());
    }

    #[test]
    fn a_task_id_is_digits_only_within_sqlite_integers() {
        assert_eq!(task_id_of("12"), Some(12));
        assert_eq!(task_id_of("007"), Some(7));
        assert_eq!(task_id_of("9223372036854775807"), Some(i64::MAX as u64));
        for not_one in ["", "+1", "-1", " 1", "1 ", "1.0", "1e0", "0x1", "9223372036854775808", "١"] {
            assert_eq!(task_id_of(not_one), None, "{not_one:?}");
        }
    }
}
