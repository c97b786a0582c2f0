//! Admission: a new job's ids, its files and the first lines of its log.
//!
//! What admission must not know: the queue, workers, or how a job ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::request::JobRequest;
use super::store::JobSpec;
use super::{exec_id, wording, TaskId};
use crate::clock;
use crate::data_dir::Layout;
use crate::storage::log_file::{Level, LogWriter};

/// Who submits, and as whom the job runs.
pub struct Submitter<'a> {
    pub submit_user: &'a str,
    pub execute_user: &'a str,
    /// Admins may give any priority; others up to the config's `max_user_priority`.
    pub admin: bool,
}

/// Hands out task ids and turns requests into specs.
pub(super) struct Admission {
    next_task_id: AtomicU64,
    /// `host:port` as it appears in execIDs.
    pub(super) instance: String,
    layout: Layout,
}

impl Admission {
    pub(super) fn new(next_task_id: TaskId, instance: String, layout: Layout) -> Admission {
        Admission { next_task_id: AtomicU64::new(next_task_id), instance, layout }
    }

    /// The spec of a new job, with a task id never handed out before, and the lines its log
    /// begins with (what variable substitution did).
    pub(super) fn spec_for(&self, request: JobRequest, who: Submitter<'_>) -> (JobSpec, Vec<(Level, String)>) {
        let task_id = self.next_task_id.fetch_add(1, Ordering::SeqCst);
        let created_at_ms = clock::now_millis();
        let short_id = format!("{}_{}_{}_{}", request.creator, who.execute_user, request.engine.name(), task_id);
        let paths = self.layout.job(who.execute_user, &clock::utc_date(created_at_ms), task_id);
        let spec = JobSpec {
            task_id,
            exec_id: exec_id::encode(&self.instance, &short_id),
            short_id,
            submit_user: who.submit_user.to_string(),
            execute_user: who.execute_user.to_string(),
            creator: request.creator,
            engine: request.engine,
            engine_type: request.engine_type,
            run_type: request.run_type,
            code: request.code,
            params: request.params,
            source: request.source,
            running_timeout: request.running_timeout,
            queuing_timeout: request.queuing_timeout,
            created_at_ms,
            created: Instant::now(),
            log_path: paths.log,
            result_dir: paths.result_dir,
            work_dir: paths.work_dir,
        };
        (spec, request.notes)
    }

    /// The job's first log lines: `notes` and the lines Linkis writes when it accepts a job.
    /// Held in memory (and in the job's history row) rather than made a file unless they are
    /// too many; the result directory is made when something is written into it (a job without
    /// results lists it as empty all the same): each inode made per job counts at high job
    /// rates. Returns the log's writer, for the job to keep while its lines are held.
    pub(super) fn first_log_lines(&self, spec: &JobSpec, notes: &[(Level, String)]) -> std::io::Result<LogWriter> {
        let mut log = LogWriter::held(&spec.log_path, Vec::new());
        for (level, note) in notes {
            log.event(*level, note)?;
        }
        log.event(Level::Info, wording::SUBMITTED)?;
        log.line(wording::CODE_RULE.as_bytes())?;
        for line in spec.code.lines() {
            log.line(line.as_bytes())?;
        }
        log.line(wording::CODE_RULE.as_bytes())?;
        log.event(Level::Info, &wording::accepted(&spec.exec_id, spec.task_id, exec_id::APPLICATION, &self.instance))?;
        log.flush()?;
        Ok(log)
    }
}
