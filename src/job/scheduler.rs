//! Admission, the queue, and the worker pool.
//!
//! `submit` gives a job its ids and files, records it in the store and appends it to the queue.
//! A fixed `threadpool` runs one worker loop per thread; each loop takes the oldest queued job
//! that is not held by a pause and runs it to the end on that thread. Kill and pause of a
//! queued job are settled here under the queue lock; for a started job they become control
//! signals for its worker. Lock order: the queue, then a job's live state; never the reverse.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use threadpool::ThreadPool;

use super::control::Control;
use super::request::JobRequest;
use super::store::{JobEntry, JobSpec, JobStore};
use super::{exec_id, runner, JobError, JobState, TaskId};
use crate::clock;
use crate::config::Config;
use crate::storage::log_file::{Level, LogWriter};
use crate::sync::lock;

/// What a kill request did.
#[derive(Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// The job had not started: it left the queue and is `Cancelled`.
    Dequeued,
    /// The job is running: its worker is terminating the process group.
    Signalled,
    /// The job had already ended in this state; nothing changed.
    AlreadyEnded(JobState),
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

/// Who submits, and as whom the job runs.
pub struct Submitter<'a> {
    pub submit_user: &'a str,
    pub execute_user: &'a str,
}

/// The job service: cheap to clone, shared by every handler thread.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    store: JobStore,
    queue: Mutex<VecDeque<Arc<JobEntry>>>,
    /// Signalled when a job is queued or released, and at shutdown.
    wake: Condvar,
    next_task_id: AtomicU64,
    /// `host:port` as it appears in execIDs.
    instance: String,
    stopping: AtomicBool,
    pool: Mutex<Option<ThreadPool>>,
}

impl Scheduler {
    /// Starts the worker pool. `instance` is the `host:port` clients reach this server on.
    pub fn start(config: Config, instance: String) -> Result<Scheduler, JobError> {
        for dir in ["users", "work"] {
            let path = config.data_dir.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| JobError::storage(format!("create {}", path.display()), e))?;
        }
        let workers = config.workers;
        let shared = Arc::new(Shared {
            config,
            store: JobStore::default(),
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            next_task_id: AtomicU64::new(1),
            instance,
            stopping: AtomicBool::new(false),
            pool: Mutex::new(None),
        });
        let pool = ThreadPool::with_name("portico-worker".into(), workers);
        for _ in 0..workers {
            let shared = Arc::clone(&shared);
            pool.execute(move || worker_loop(&shared));
        }
        *lock(&shared.pool) = Some(pool);
        Ok(Scheduler { shared })
    }

    /// The settings the scheduler runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Accepts a job: assigns its ids, creates its log, and queues it.
    pub fn submit(&self, request: JobRequest, who: Submitter<'_>) -> Result<Arc<JobEntry>, JobError> {
        let shared = &self.shared;
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(JobError::ShuttingDown);
        }
        let task_id = shared.next_task_id.fetch_add(1, Ordering::SeqCst);
        let spec = shared.spec_for(request, who, task_id);
        let mut log = LogWriter::create(&spec.log_path).map_err(|e| JobError::storage("create the job log", e))?;
        write_accepted(&mut log, &spec, &shared.instance).map_err(|e| JobError::storage("write the job log", e))?;
        drop(log);
        let entry = Arc::new(JobEntry::new(spec));
        shared.store.insert(Arc::clone(&entry));
        log::info!("job {task_id} accepted: {} for {}", entry.spec.engine_type, entry.spec.execute_user);
        lock(&shared.queue).push_back(Arc::clone(&entry));
        shared.wake.notify_one();
        Ok(entry)
    }

    /// Finds a job by execID or taskID.
    pub fn find(&self, id: &str) -> Option<Arc<JobEntry>> {
        self.shared.store.find(id)
    }

    /// Kills a job on behalf of `by`: dequeues it if it has not started, signals it otherwise.
    pub fn kill(&self, entry: &Arc<JobEntry>, by: &str) -> KillOutcome {
        let shared = &self.shared;
        let dequeued = {
            let mut queue = lock(&shared.queue);
            let position = queue.iter().position(|queued| Arc::ptr_eq(queued, entry));
            position.and_then(|i| queue.remove(i))
        };
        if dequeued.is_some() {
            let reason = format!("Job is killed by user {by}!");
            runner::end_unstarted(entry, JobState::Cancelled, &reason);
            return KillOutcome::Dequeued;
        }
        let mut live = entry.live();
        if live.state.is_terminal() {
            return KillOutcome::AlreadyEnded(live.state);
        }
        if live.kill_requested_by.is_none() {
            live.kill_requested_by = Some(by.to_string());
        }
        drop(live);
        entry.send(Control::Kill { by: by.to_string() });
        KillOutcome::Signalled
    }

    /// Pauses a job: holds it in the queue, or stops its process group.
    pub fn pause(&self, entry: &Arc<JobEntry>, by: &str) -> PauseOutcome {
        let queue = lock(&self.shared.queue);
        let queued = queue.iter().any(|queued| Arc::ptr_eq(queued, entry));
        let mut live = entry.live();
        if live.state.is_terminal() {
            return PauseOutcome::AlreadyEnded(live.state);
        }
        if live.paused {
            return PauseOutcome::Unchanged;
        }
        if queued {
            live.pause();
            drop(live);
            drop(queue);
            entry.log_event(
                Level::Info,
                &format!("Job paused by user {by} while queued: it stays in the queue until resumed."),
            );
            return PauseOutcome::Queued;
        }
        drop(live);
        entry.send(Control::Pause { by: by.to_string() });
        PauseOutcome::Signalled
    }

    /// Resumes a paused job: releases it to the queue, or continues its process group.
    pub fn resume(&self, entry: &Arc<JobEntry>, by: &str) -> PauseOutcome {
        let queue = lock(&self.shared.queue);
        let queued = queue.iter().any(|queued| Arc::ptr_eq(queued, entry));
        let mut live = entry.live();
        if live.state.is_terminal() {
            return PauseOutcome::AlreadyEnded(live.state);
        }
        if queued {
            if !live.paused {
                return PauseOutcome::Unchanged;
            }
            live.resume();
            drop(live);
            drop(queue);
            self.shared.wake.notify_all();
            entry.log_event(Level::Info, &format!("Job resumed by user {by}: back in the queue."));
            return PauseOutcome::Queued;
        }
        let paused = live.paused;
        drop(live);
        if !paused {
            return PauseOutcome::Unchanged;
        }
        entry.send(Control::Resume { by: by.to_string() });
        PauseOutcome::Signalled
    }

    /// How many jobs wait ahead of this one (0 when it is next or not queued).
    pub fn queue_position(&self, entry: &Arc<JobEntry>) -> Option<usize> {
        lock(&self.shared.queue).iter().position(|queued| Arc::ptr_eq(queued, entry))
    }

    /// Stops taking jobs, kills running ones and waits for the workers to finish them.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        shared.wake.notify_all();
        for entry in shared.store.unfinished() {
            self.kill(&entry, "the server (shutting down)");
        }
        if let Some(pool) = lock(&shared.pool).take() {
            pool.join();
        }
    }
}

impl Shared {
    fn spec_for(&self, request: JobRequest, who: Submitter<'_>, task_id: TaskId) -> JobSpec {
        let created_at_ms = clock::now_millis();
        let short_id = format!("{}_{}_{}_{}", request.creator, who.execute_user, request.engine.name(), task_id);
        let (year, month, day) = clock::civil_from_days((created_at_ms / 86_400_000) as i64);
        let date = format!("{year:04}-{month:02}-{day:02}");
        let user_dir = self.config.data_dir.join("users").join(who.execute_user);
        JobSpec {
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
            log_path: user_dir.join("log").join(&date).join(format!("{task_id}.log")),
            result_dir: user_dir.join("result").join(&date).join(task_id.to_string()),
            work_dir: self.config.data_dir.join("work").join(task_id.to_string()),
        }
    }

    /// Blocks until a job may start; `None` once the server is stopping.
    fn next_job(&self) -> Option<Arc<JobEntry>> {
        let mut queue = lock(&self.queue);
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(i) = queue.iter().position(|entry| !entry.live().paused) {
                return queue.remove(i);
            }
            queue = self.wake.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// One worker thread's life: take the next job, run it to the end, repeat.
fn worker_loop(shared: &Shared) {
    while let Some(entry) = shared.next_job() {
        runner::run(&shared.config, &entry);
    }
}

/// The lines Linkis writes when it accepts a job.
fn write_accepted(log: &mut LogWriter, spec: &JobSpec, instance: &str) -> std::io::Result<()> {
    const STARS: &str = "************************************SCRIPT CODE************************************";
    log.event(Level::Info, "You have submitted a new job, script code (after variable substitution) is")?;
    log.line(STARS.as_bytes())?;
    for line in spec.code.lines() {
        log.line(line.as_bytes())?;
    }
    log.line(STARS.as_bytes())?;
    log.event(
        Level::Info,
        &format!(
            "Your job is accepted,  jobID is {} and taskID is {} in ServiceInstance({}, {instance}). Please wait it to be scheduled",
            spec.exec_id,
            spec.task_id,
            exec_id::APPLICATION
        ),
    )?;
    log.flush()
}

/// Where the data directory keeps a user's files.
pub fn user_dir(config: &Config, user: &str) -> PathBuf {
    config.data_dir.join("users").join(user)
}
