//! Linkis's fixed sentences in a job's log and error slot, in one place: clients and people
//! grep for them ("Job is killed by user", "over max queue time", the closing line), so every
//! path that ends or reports a job uses these and none spells its own.

use std::time::Duration;

use super::JobState;

/// The first line of an accepted job's log, before its code.
pub const SUBMITTED: &str = "You have submitted a new job, script code (after variable substitution) is";

/// The rule around the code in an accepted job's log.
pub const CODE_RULE: &str = "************************************SCRIPT CODE************************************";

/// A worker has taken the job.
pub const SCHEDULED: &str = "Your job is Scheduled. Please wait it to run.(您的任务已经调度运行中)";

/// The job's process has started.
pub const RUNNING: &str = "Your job is Running now. Please wait it to complete.(您的任务已经在运行中)";

/// The job is accepted and queued.
pub fn accepted(exec_id: &str, task_id: u64, application: &str, instance: &str) -> String {
    format!(
        "Your job is accepted,  jobID is {exec_id} and taskID is {task_id} in ServiceInstance({application}, {instance}). \
         Please wait it to be scheduled"
    )
}

/// The error slot of a job someone killed.
pub fn killed_by(user: &str) -> String {
    format!("Job is killed by user {user}!")
}

/// The error slot of a job that waited longer than its `jobQueuingTimeout`.
pub fn over_queue_time(waited: Duration, limit: Duration) -> String {
    format!("Job queued {} seconds over max queue time : {} seconds.", waited.as_secs(), limit.as_secs())
}

/// The error slot of a job that ran longer than its `jobRunningTimeout` (paused time excluded).
pub fn over_run_time(ran: Duration, limit: Duration) -> String {
    format!("Job run {} seconds over max run time : {} seconds.", ran.as_secs(), limit.as_secs())
}

/// A queued job held by a pause.
pub fn paused_in_queue(by: &str) -> String {
    format!("Job paused by user {by} while queued: it stays in the queue until resumed.")
}

/// A held job released to the queue.
pub fn resumed_in_queue(by: &str) -> String {
    format!("Job resumed by user {by}: back in the queue.")
}

/// A running job's processes stopped by a pause.
pub fn paused_running(by: &str) -> String {
    format!("Job paused by user {by}: its processes are stopped (SIGSTOP).")
}

/// A paused job's processes continued.
pub fn resumed_running(by: &str, paused_for: Duration) -> String {
    format!("Job resumed by user {by} (SIGCONT); paused {:.1}s in all.", paused_for.as_secs_f64())
}

/// The error line of a job that did not succeed.
pub fn failed_with(reason: &str) -> String {
    format!("Sorry, your job executed failed with reason: {reason}")
}

/// The line Linkis ends every job log with.
pub fn completion(state: JobState) -> String {
    if state == JobState::Succeed {
        "Congratulations. Your job completed with status Success.".to_string()
    } else {
        format!("Sorry. Your job completed with a status {state}. You can view logs for the reason.")
    }
}
