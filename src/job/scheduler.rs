//! Admission, the queue, the worker pool, restart recovery and shutdown.
//!
//! `submit` gives a job its ids and files, commits its history row, records it in the store
//! and appends it to the queue; only then is the client told its execID, so an accepted job is
//! never lost. A fixed `threadpool` runs one worker loop per thread; each loop takes the oldest
//! queued job that is not held by a pause and runs it to the end on that thread, then evicts it
//! from memory (its history row answers for it from then on). Kill and pause of a queued job
//! are settled here under the queue lock; for a started job they become control signals for
//! its worker. Lock order: the queue, then a job's live state; never the reverse.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;

use super::control::{self, Control};
use super::record::{entry_from_record, new_record, pause_update};
use super::request::JobRequest;
use super::store::{JobEntry, JobSpec, JobStore};
use super::wording;
use super::{exec_id, finish, recovery, runner, JobError, JobState, TaskId};
use crate::clock;
use crate::config::Config;
use crate::storage::history::History;
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
    history: History,
    queue: Mutex<VecDeque<Arc<JobEntry>>>,
    /// Signalled when a job is queued or released, and at shutdown.
    wake: Condvar,
    next_task_id: AtomicU64,
    /// `host:port` as it appears in execIDs.
    instance: String,
    stopping: AtomicBool,
    /// Signalled when a job with a queue-wait limit is queued, so the queue timer can re-plan.
    queue_changed: Condvar,
    queue_timer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Jobs on a worker right now; `idle` is signalled when it drops.
    busy: Mutex<usize>,
    idle: Condvar,
    pool: Mutex<Option<ThreadPool>>,
}

impl Scheduler {
    /// Opens the job history, accounts for jobs a previous run left unfinished, and starts the
    /// worker pool. `instance` is the `host:port` clients reach this server on.
    pub fn start(config: Config, instance: String) -> Result<Scheduler, JobError> {
        for dir in ["users", "work"] {
            let path = config.data_dir.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| JobError::storage(format!("create {}", path.display()), e))?;
        }
        let history = History::open(&config.data_dir.join("history.db"), &JobState::ENDED.map(JobState::as_str))
            .map_err(|e| JobError::storage("open the job history", e))?;
        let next_task_id = history.next_task_id().map_err(|e| JobError::storage("read the job history", e))?;
        let workers = config.workers;
        let shared = Arc::new(Shared {
            config,
            store: JobStore::default(),
            history,
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            next_task_id: AtomicU64::new(next_task_id),
            instance,
            stopping: AtomicBool::new(false),
            queue_changed: Condvar::new(),
            queue_timer: Mutex::new(None),
            busy: Mutex::new(0),
            idle: Condvar::new(),
            pool: Mutex::new(None),
        });
        recovery::recover(&shared.history, &shared.store, &shared.queue)?;
        let pool = ThreadPool::with_name("portico-worker".into(), workers);
        for _ in 0..workers {
            let shared = Arc::clone(&shared);
            pool.execute(move || worker_loop(&shared));
        }
        *lock(&shared.pool) = Some(pool);
        let timer = Arc::clone(&shared);
        let timer = std::thread::Builder::new()
            .name("portico-queue-timer".into())
            .spawn(move || queue_timer(&timer))
            .map_err(|e| JobError::storage("start the queue timer", e))?;
        *lock(&shared.queue_timer) = Some(timer);
        Ok(Scheduler { shared })
    }

    /// The job history, for the history endpoints.
    pub fn history(&self) -> &History {
        &self.shared.history
    }

    /// Accepts a job: assigns its ids, creates its log, commits its history row, and queues it.
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
        let record = new_record(&spec, &shared.instance);
        // In the store before the row is visible, so a lookup never builds a stale copy of it.
        let entry = Arc::new(JobEntry::new(spec));
        shared.store.insert(Arc::clone(&entry));
        if let Err(e) = shared.history.insert(record) {
            shared.store.remove(task_id);
            return Err(JobError::storage("record the job in the history", e));
        }
        log::info!("job {task_id} accepted: {} for {}", entry.spec.engine_type, entry.spec.execute_user);
        lock(&shared.queue).push_back(Arc::clone(&entry));
        shared.wake.notify_one();
        if entry.spec.queuing_timeout.is_some() {
            shared.queue_changed.notify_one();
        }
        Ok(entry)
    }

    /// Finds a job by execID or taskID: in memory while it is queued or running, in the
    /// history once it has ended (also from before a restart).
    pub fn find(&self, id: &str) -> Option<Arc<JobEntry>> {
        if let Some(entry) = self.shared.store.find(id) {
            return Some(entry);
        }
        let history = &self.shared.history;
        let record = match id.parse::<TaskId>() {
            Ok(task_id) if task_id > i64::MAX as u64 => return None,
            Ok(task_id) => history.get(task_id),
            Err(_) => history.find_exec_id(id),
        };
        match record {
            Ok(Some(record)) => entry_from_record(&record).map(Arc::new),
            Ok(None) => None,
            Err(e) => {
                log::error!("cannot look job {id} up in the history: {e}");
                None
            }
        }
    }

    /// The live entry of a job still in memory (queued or running).
    pub fn live(&self, task_id: TaskId) -> Option<Arc<JobEntry>> {
        self.shared.store.get(task_id)
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
            if finish::end_unstarted(&shared.history, entry, JobState::Cancelled, &reason) {
                shared.store.remove(entry.spec.task_id);
            }
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

    /// Pauses a job: holds it in the queue, or stops its process group. The paused flag is set,
    /// the history told and the worker signalled while the locks are held (none of it blocks),
    /// so a resume right behind this pause always sees it and everything stays in order.
    pub fn pause(&self, entry: &Arc<JobEntry>, by: &str) -> PauseOutcome {
        let queue = lock(&self.shared.queue);
        let queued = queue.iter().any(|queued| Arc::ptr_eq(queued, entry));
        let mut live = entry.live();
        if live.state.is_terminal() {
            return PauseOutcome::AlreadyEnded(live.state);
        }
        if live.paused || live.kill_requested_by.is_some() {
            return PauseOutcome::Unchanged;
        }
        live.pause();
        if !queued {
            entry.send(Control::Pause { by: by.to_string() });
            return PauseOutcome::Signalled;
        }
        self.shared.record_pause(entry.spec.task_id, true, live.paused_for());
        drop(live);
        drop(queue);
        entry.log_event(
            Level::Info,
            &format!("Job paused by user {by} while queued: it stays in the queue until resumed."),
        );
        PauseOutcome::Queued
    }

    /// Resumes a paused job: releases it to the queue, or continues its process group.
    pub fn resume(&self, entry: &Arc<JobEntry>, by: &str) -> PauseOutcome {
        let queue = lock(&self.shared.queue);
        let queued = queue.iter().any(|queued| Arc::ptr_eq(queued, entry));
        let mut live = entry.live();
        if live.state.is_terminal() {
            return PauseOutcome::AlreadyEnded(live.state);
        }
        if !live.paused {
            return PauseOutcome::Unchanged;
        }
        live.resume();
        if !queued {
            entry.send(Control::Resume { by: by.to_string() });
            return PauseOutcome::Signalled;
        }
        self.shared.record_pause(entry.spec.task_id, false, live.paused_for());
        drop(live);
        // Notified under the queue lock so a waiting worker or the queue timer cannot miss it.
        self.shared.wake.notify_all();
        self.shared.queue_changed.notify_all();
        drop(queue);
        entry.log_event(Level::Info, &format!("Job resumed by user {by}: back in the queue."));
        PauseOutcome::Queued
    }

    /// How many jobs wait ahead of this one, while it is queued.
    pub fn queue_position(&self, entry: &Arc<JobEntry>) -> Option<usize> {
        lock(&self.shared.queue).iter().position(|queued| Arc::ptr_eq(queued, entry))
    }

    /// Stops taking and starting jobs, gives running jobs up to `grace` to finish, kills the
    /// rest, and waits until every job is recorded. Queued jobs stay queued in the history and
    /// run after the next start.
    pub fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        {
            let _queue = lock(&shared.queue);
            shared.wake.notify_all();
            shared.queue_changed.notify_all();
        }
        let deadline = Instant::now() + grace;
        let mut busy = lock(&shared.busy);
        while *busy > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            busy = shared.idle.wait_timeout(busy, left).map(|(guard, _)| guard).unwrap_or_else(|e| e.into_inner().0);
        }
        let still_running = *busy;
        drop(busy);
        if still_running > 0 {
            log::warn!("{still_running} jobs still running after the shutdown grace of {grace:?}: killing them");
            let queued: Vec<Arc<JobEntry>> = lock(&shared.queue).iter().cloned().collect();
            for entry in shared.store.unfinished() {
                if !queued.iter().any(|q| Arc::ptr_eq(q, &entry)) {
                    self.kill(&entry, "the server (shutting down)");
                }
            }
        }
        if let Some(pool) = lock(&shared.pool).take() {
            pool.join();
        }
        if let Some(timer) = lock(&shared.queue_timer).take() {
            let _ = timer.join();
        }
        shared.history.close();
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

    /// Tells the history a queued job's pause flag (a write nobody waits for: it never blocks).
    fn record_pause(&self, task_id: TaskId, paused: bool, paused_for: Duration) {
        finish::record(&self.history, task_id, pause_update(paused, paused_for), false);
    }

    /// Blocks until a job may start; `None` once the server is stopping.
    fn next_job(&self) -> Option<Arc<JobEntry>> {
        let mut queue = lock(&self.queue);
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(i) = queue.iter().position(|entry| !entry.live().paused) {
                *lock(&self.busy) += 1;
                return queue.remove(i);
            }
            queue = self.wake.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Ends queued jobs that have waited longer than their `jobQueuingTimeout`, sleeping until the
/// nearest such deadline (or until a job with a limit is queued). A job held by a pause is
/// left alone here; its wait is checked again when a worker takes it.
fn queue_timer(shared: &Shared) {
    let mut queue = lock(&shared.queue);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        let deadline = |entry: &Arc<JobEntry>| {
            let limit = entry.spec.queuing_timeout?;
            if entry.live().paused {
                return None;
            }
            entry.spec.created.checked_add(limit)
        };
        let mut expired = Vec::new();
        queue.retain(|entry| {
            let over = deadline(entry).is_some_and(|at| at <= now);
            if over {
                expired.push(Arc::clone(entry));
            }
            !over
        });
        if !expired.is_empty() {
            drop(queue);
            for entry in expired {
                let limit = entry.spec.queuing_timeout.unwrap_or_default();
                let reason = wording::over_queue_time(entry.spec.created.elapsed(), limit);
                if finish::end_unstarted(&shared.history, &entry, JobState::Timeout, &reason) {
                    shared.store.remove(entry.spec.task_id);
                }
            }
            queue = lock(&shared.queue);
            continue;
        }
        let next = queue.iter().filter_map(deadline).min();
        queue = match next {
            Some(at) => shared
                .queue_changed
                .wait_timeout(queue, at.saturating_duration_since(now))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0),
            None => shared.queue_changed.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
}

/// One worker thread's life: take the next job, run it to the end, evict it, repeat.
///
/// A panic while running a job (a bug) must not cost the pool a worker or leave the job
/// `Running` for ever: it is caught here, the job's processes are killed, and the job is
/// recorded as `Failed`.
fn worker_loop(shared: &Shared) {
    while let Some(entry) = shared.next_job() {
        let _busy = BusyGuard(shared);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner::run(&shared.config, &shared.history, &entry)
        }));
        let committed = ran.unwrap_or_else(|_| {
            log::error!("job {}: the worker running it panicked; ending the job as Failed", entry.spec.task_id);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fail_after_panic(shared, &entry))).unwrap_or(false)
        });
        if committed {
            shared.store.remove(entry.spec.task_id);
        }
    }
}

/// Kills the group of a job whose worker panicked and records the job as `Failed`.
fn fail_after_panic(shared: &Shared, entry: &JobEntry) -> bool {
    let pgid = entry.live().pgid;
    if let Some(pgid) = pgid {
        let _ = control::signal_group(pgid, libc::SIGKILL);
    }
    entry.close_log();
    finish::publish_end(&shared.history, entry, |live| {
        live.state = JobState::Failed;
        live.err_code = Some(finish::INTERNAL_ERROR_CODE);
        live.err_desc = Some("Portico failed while running this job (see the server log); it was stopped.".into());
    })
}

/// Counts a job on a worker until dropped, however the worker leaves the job (even by a panic).
struct BusyGuard<'a>(&'a Shared);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut busy = lock(&self.0.busy);
        *busy = busy.saturating_sub(1);
        self.0.idle.notify_all();
    }
}

/// The lines Linkis writes when it accepts a job.
fn write_accepted(log: &mut LogWriter, spec: &JobSpec, instance: &str) -> std::io::Result<()> {
    log.event(Level::Info, wording::SUBMITTED)?;
    log.line(wording::CODE_RULE.as_bytes())?;
    for line in spec.code.lines() {
        log.line(line.as_bytes())?;
    }
    log.line(wording::CODE_RULE.as_bytes())?;
    log.event(Level::Info, &wording::accepted(&spec.exec_id, spec.task_id, exec_id::APPLICATION, instance))?;
    log.flush()
}
