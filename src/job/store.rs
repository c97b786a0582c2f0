//! The jobs in memory (queued or running, and ended ones whose end could not be committed),
//! each with its changing state, its log writer and the channel that wakes its worker.
//!
//! The store maps task ids (and execIDs) to [`JobEntry`]s; requests read them only through a
//! [`super::view::JobView`] copy. It must not know how jobs are queued, run or recorded. An entry's immutable [`JobSpec`] is
//! readable without locking; its changing [`JobLive`] sits behind its own mutex, held only to
//! copy or update a few fields, never across process, file or database I/O. Reads therefore
//! never wait on a running job's worker.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Map, Value};

use super::view::Resources;
use super::{JobState, TaskId};
use crate::engine::Engine;
use crate::storage::log_file::{Level, LogWriter};
use crate::sync::lock;

/// What a job is; fixed at submission.
#[derive(Debug)]
pub struct JobSpec {
    pub task_id: TaskId,
    pub exec_id: String,
    /// The scheduler's short id, `{creator}_{user}_{engine}_{n}` (history's `execId`).
    pub short_id: String,
    /// Who submitted it (history's `umUser`).
    pub submit_user: String,
    /// Whom it runs as.
    pub execute_user: String,
    pub creator: String,
    pub engine: Engine,
    pub engine_type: String,
    pub run_type: String,
    pub code: String,
    pub params: Value,
    pub source: Map<String, Value>,
    pub running_timeout: Option<Duration>,
    pub queuing_timeout: Option<Duration>,
    pub created_at_ms: u64,
    /// The monotonic twin of `created_at_ms`, for queue-wait timeouts.
    pub created: Instant,
    pub log_path: PathBuf,
    /// The directory holding the job's `_N.dolphin` result sets.
    pub result_dir: PathBuf,
    pub work_dir: PathBuf,
}

/// Per-stage progress in the Linkis `progressInfo` shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageCounts {
    pub succeed: u64,
    pub failed: u64,
    pub running: u64,
    pub total: u64,
}

/// What changes while a job lives.
#[derive(Clone, Debug)]
pub struct JobLive {
    pub state: JobState,
    /// In [0, 1]; at most 0.99 until the job ends; never decreases.
    pub progress: f64,
    /// Counts the job reported with a `n/m` progress marker, if any.
    pub reported_stages: Option<StageCounts>,
    /// Paused by a user: the process group is stopped (or the job is held in the queue).
    pub paused: bool,
    pub paused_since: Option<Instant>,
    /// Time spent paused before the current pause.
    pub paused_before: Duration,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    /// The process group of the running job.
    pub pgid: Option<i32>,
    pub exit_code: Option<i32>,
    pub err_code: Option<u32>,
    pub err_desc: Option<String>,
    /// Who asked to kill the job, once someone has: the kill intent, stored only here (the
    /// worker is woken to act on it).
    pub kill_requested_by: Option<String>,
    /// Who last paused or resumed the job; `paused` is the intent, the worker acts on it.
    pub pause_changed_by: Option<String>,
    /// Someone has taken on ending the job (the ledger is committing its end, or a kill or
    /// the queue timer has taken it out of the queue to end it): nothing may start, pause or
    /// end it any more.
    pub ending: bool,
    /// The job's main process has exited: a kill has nothing left to stop.
    pub process_exited: bool,
    /// A Spark job's application, once its driver has said where it is.
    pub spark: Option<super::spark_watch::SparkApp>,
    /// The latest resource figures (live while running, final once ended).
    pub resources: Resources,
    /// Whether `resources` holds a sample of the running job yet (see [`JobEntry::live_sampled`]).
    pub sampled: bool,
    /// Result sets written so far.
    pub result_sets: u32,
    /// The state the metrics count this job in (`tally.rs`); `None` until first counted.
    pub counted_as: Option<JobState>,
}

impl JobLive {
    /// Takes in a resource sample of the running job, and notes that it has one.
    pub(super) fn record_sample(&mut self, sample: super::view::Resources) {
        self.resources.update(sample);
        self.sampled = true;
    }

    fn new() -> JobLive {
        JobLive {
            state: JobState::Inited,
            progress: 0.0,
            reported_stages: None,
            paused: false,
            paused_since: None,
            paused_before: Duration::ZERO,
            started_at_ms: None,
            ended_at_ms: None,
            pgid: None,
            exit_code: None,
            err_code: None,
            err_desc: None,
            kill_requested_by: None,
            pause_changed_by: None,
            ending: false,
            process_exited: false,
            spark: None,
            resources: Resources::default(),
            sampled: false,
            result_sets: 0,
            counted_as: None,
        }
    }

    /// Total time spent paused, the current pause included.
    pub fn paused_for(&self) -> Duration {
        self.paused_before + self.paused_since.map(|since| since.elapsed()).unwrap_or_default()
    }

    /// Marks the start of a pause.
    pub fn pause(&mut self) {
        if !self.paused {
            self.paused = true;
            self.paused_since = Some(Instant::now());
        }
    }

    /// Marks the end of a pause, adding it to the paused total.
    pub fn resume(&mut self) {
        if let Some(since) = self.paused_since.take() {
            self.paused_before += since.elapsed();
        }
        self.paused = false;
    }

    /// Raises progress to `value` (capped at 0.99 while the job runs); never lowers it.
    pub fn raise_progress(&mut self, value: f64) {
        if value.is_finite() {
            self.progress = self.progress.max(value.clamp(0.0, 0.99));
        }
    }
}

/// A nudge to a job's worker: "look at the job's live state again". It carries nothing; the
/// intent (kill, pause, resume) is in [`JobLive`], so a wake-up that arrives late or twice
/// can never act on a stale request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake;

/// One job: its spec, its live state, and the channel its worker listens on.
pub struct JobEntry {
    pub spec: JobSpec,
    live: Mutex<JobLive>,
    control_tx: Sender<Wake>,
    /// Taken by the worker that runs the job.
    control_rx: Mutex<Option<Receiver<Wake>>>,
    /// The job's log writer, open while the job runs, or holding the lines of a log that is
    /// not a file yet (`LogWriter::held`); every writer of the log goes through it, so lines
    /// from the worker and from requests on a queued job never interleave badly.
    log: Mutex<Option<LogWriter>>,
}

impl JobEntry {
    pub fn new(spec: JobSpec) -> JobEntry {
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        JobEntry {
            spec,
            live: Mutex::new(JobLive::new()),
            control_tx,
            control_rx: Mutex::new(Some(control_rx)),
            log: Mutex::new(None),
        }
    }

    /// Writes to the job's log, opening it for appending if it is not open. Only writers take
    /// this lock (readers read the file), and only for the few lines they write.
    pub fn write_log<T>(&self, write: impl FnOnce(&mut LogWriter) -> io::Result<T>) -> io::Result<T> {
        let mut guard = lock(&self.log);
        let writer = match guard.take() {
            Some(writer) => writer,
            None => LogWriter::append_to(&self.spec.log_path)?,
        };
        write(guard.insert(writer))
    }

    /// Appends one event line and makes it visible; failures are logged, not returned, since a
    /// job must not fail because its log could not take a line. A log held in memory is made a
    /// file first: nothing else would make this line durable.
    pub fn log_event(&self, level: Level, text: &str) {
        self.log_line(level, text, true);
    }

    /// [`JobEntry::log_event`] for a line of the job's life that the next update of its history
    /// row carries ([`JobEntry::held_log`]): a log held in memory stays so.
    pub fn log_held(&self, level: Level, text: &str) {
        self.log_line(level, text, false);
    }

    fn log_line(&self, level: Level, text: &str, make_file: bool) {
        if let Err(e) = self.write_log(|log| {
            if make_file {
                log.make_file()?;
            }
            log.event(level, text)?;
            log.flush()
        }) {
            log::error!("job {}: cannot write its log: {e}", self.spec.task_id);
        }
    }

    /// Keeps `log` as the job's log writer while it holds the log's lines in memory (a new
    /// job's first lines, or those its history row kept for a log that is not a file); one
    /// that is a file already is closed, as [`JobEntry::close_log`] leaves a log.
    pub fn keep_log(&self, log: LogWriter) {
        if log.held_bytes().is_some() {
            *lock(&self.log) = Some(log);
        }
    }

    /// The lines of the job's log while it is held in memory, for its history row.
    pub fn held_log(&self) -> Option<Vec<u8>> {
        lock(&self.log).as_ref().and_then(LogWriter::held_bytes).map(<[u8]>::to_vec)
    }

    /// Makes the job's log the file its path names, if it is held in memory, and closes it: a
    /// reader of a queued job's log must not leave a descriptor open until the job ends.
    pub fn make_log_file(&self) -> io::Result<()> {
        let mut log = lock(&self.log);
        if let Some(writer) = log.as_mut().filter(|writer| writer.held_bytes().is_some()) {
            writer.make_file()?;
            *log = None;
        }
        Ok(())
    }

    /// Flushes and closes the log, freeing its file handles until someone writes again. A log
    /// held in memory stays held: its lines are in no file yet.
    pub fn close_log(&self) {
        let mut log = lock(&self.log);
        if log.as_ref().is_some_and(|writer| writer.held_bytes().is_some()) {
            return;
        }
        if let Some(mut writer) = log.take() {
            if let Err(e) = writer.flush() {
                log::error!("job {}: cannot flush its log: {e}", self.spec.task_id);
            }
        }
    }

    /// Locks the live state. Keep the guard for a few field reads or writes only; it never
    /// leaves `job/` (handlers get a [`super::view::JobView`]).
    pub(super) fn live(&self) -> MutexGuard<'_, JobLive> {
        lock(&self.live)
    }

    /// A copy of the live state whose resource figures are a sample of the job if it runs:
    /// taken here, on the asker's thread, if the worker has not taken one yet. Its worker used
    /// to sample every job as it started, so that no poll read all zeros before the first
    /// once-a-second sample; that was 17% of a worker's own CPU in the job throughput
    /// benchmark, for jobs nobody polled. Now only a job somebody looks at pays for it.
    pub(super) fn live_sampled(&self) -> JobLive {
        let pgid = {
            let live = self.live();
            let (JobState::Running, Some(pgid), false) = (live.state, live.pgid, live.sampled) else {
                return live.clone();
            };
            pgid
        };
        // Sampled outside the lock: reading /proc must not hold up the worker.
        let sample = super::control::sample_job(pgid);
        let mut live = self.live();
        if !live.sampled {
            live.record_sample(sample);
        }
        live.clone()
    }

    /// Wakes the job's worker to act on the live state; a wake-up sent before the worker
    /// starts waits in the channel and is acted on as soon as the process exists.
    pub fn wake(&self) {
        // Fails only once the worker has dropped the receiver, when the run is over and there
        // is nothing left to wake.
        let _ = self.control_tx.send(Wake);
    }

    /// Hands the control receiver to the worker that runs the job (once).
    pub fn take_control(&self) -> Option<Receiver<Wake>> {
        lock(&self.control_rx).take()
    }
}

/// Every job the server knows, by task id and by execID.
#[derive(Default)]
pub struct JobStore {
    by_task: Mutex<HashMap<TaskId, Arc<JobEntry>>>,
    by_exec_id: Mutex<HashMap<String, TaskId>>,
}

impl JobStore {
    pub fn insert(&self, entry: Arc<JobEntry>) {
        lock(&self.by_exec_id).insert(entry.spec.exec_id.clone(), entry.spec.task_id);
        lock(&self.by_task).insert(entry.spec.task_id, entry);
    }

    pub fn get(&self, task_id: TaskId) -> Option<Arc<JobEntry>> {
        lock(&self.by_task).get(&task_id).cloned()
    }

    /// Finds a job by execID or by numeric taskID, the two forms clients put in paths.
    pub fn find(&self, id: &str) -> Option<Arc<JobEntry>> {
        if let Some(task_id) = super::task_id_of(id) {
            return self.get(task_id);
        }
        let task_id = *lock(&self.by_exec_id).get(id)?;
        self.get(task_id)
    }

    /// Forgets a job that has ended (its history row now answers for it).
    pub fn remove(&self, task_id: TaskId) {
        if let Some(entry) = lock(&self.by_task).remove(&task_id) {
            lock(&self.by_exec_id).remove(&entry.spec.exec_id);
        }
    }

    /// Jobs not yet ended, for shutdown.
    pub fn unfinished(&self) -> Vec<Arc<JobEntry>> {
        lock(&self.by_task).values().filter(|e| !e.live().state.is_terminal()).cloned().collect()
    }
}
