//! The job service handlers call: submit, look up, kill, pause, resume, shut down.
//!
//! `submit` gives a job its ids and files (`admission.rs`), commits its history row, records it
//! in the store and appends it to the queue (`queue.rs`); only then is the client told its
//! execID, so an accepted job is never lost. A fixed pool (`workers.rs`) takes queued jobs and
//! runs them to their end (`runner/`); every end goes through `Ledger::settle` (`finish.rs`).
//! Kill, pause and resume are `scheduler/control.rs`'s. Lookups answer with a
//! [`JobView`] copy, never a lock or a live entry. It must not know HTTP or how a process runs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::admission::Admission;
pub use super::admission::Submitter;
use super::ended::EndedViews;
use super::finish::Ledger;
use super::queue::{Full, JobQueue, QueueLimits};
use super::record::{new_record, pause_update};
use super::request::JobRequest;
use super::start_journal::StartJournal;
use super::store::{JobEntry, JobStore};
use super::view::{self, JobView};
use super::workers::Workers;
use super::{priority, recovery, wording, JobError, JobState, TaskId};
use crate::config::Config;
use crate::data_dir::Layout;
use crate::storage::history::{History, JobRecord, ListFilter};
use crate::storage::log_file::{self, Level};
use crate::sync::lock;

mod control;

pub use self::control::{KillOutcome, PauseOutcome, Settled};

/// The Linkis error code for a job its engine cannot run as asked (Linkis's "engine
/// conn refused the request" family).
const ENGINE_REFUSED: u32 = 20010;

/// How long a client refused for a full queue is asked to wait before trying again: about
/// the time a short job takes to leave it.
const QUEUE_FULL_RETRY_SECS: u64 = 5;

fn queue_full(full: Full) -> JobError {
    let desc = match full {
        Full::Queue { capacity } => format!(
            "The submission job failed and the queue is full!(提交作业失败，队列已满！) {capacity} jobs are waiting; \
             retry in a few seconds"
        ),
        Full::User { capacity } => format!(
            "The submission job failed and the queue is full!(提交作业失败，队列已满！) You already have {capacity} \
             jobs waiting, your share of the queue; retry when some have started"
        ),
    };
    JobError::QueueFull { desc, retry_after_secs: QUEUE_FULL_RETRY_SECS }
}

/// The job service: cheap to clone, shared by every handler thread.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

/// What the scheduler's parts share, one field per concern.
pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) ledger: Ledger,
    pub(super) admission: Admission,
    pub(super) queue: JobQueue,
    pub(super) workers: Workers,
    /// Set at shutdown: no job is accepted or started from then on.
    pub(super) stopping: AtomicBool,
    queue_timer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Views of ended jobs, so a poll of one costs no database query.
    ended: EndedViews,
}

impl Scheduler {
    /// Opens the job history, accounts for jobs a previous run left unfinished, and starts the
    /// worker pool. `instance` is the `host:port` clients reach this server on.
    pub fn start(config: Config, instance: String) -> Result<Scheduler, JobError> {
        let layout = Layout::new(&config.data_dir);
        for path in [layout.users(), layout.work(), layout.tmp()] {
            std::fs::create_dir_all(&path).map_err(|e| JobError::storage(format!("create {}", path.display()), e))?;
        }
        super::spare_dirs::clear(&layout.work());
        let history = History::open(&layout.history_db(), &JobState::ENDED.map(JobState::as_str))
            .map_err(|e| JobError::storage("open the job history", e))?;
        let next_task_id = history.next_task_id().map_err(|e| JobError::storage("read the job history", e))?;
        let workers = config.workers;
        let (journal, started) = StartJournal::open(&layout.start_journal(), workers)
            .map_err(|e| JobError::storage("open the start journal", e))?;
        let limits = QueueLimits {
            capacity: config.queue.capacity,
            per_user_capacity: config.queue.per_user_capacity(),
            running_per_user: config.queue.running_per_user(workers),
        };
        let shared = Arc::new(Shared {
            config,
            ledger: Ledger { history, store: JobStore::default(), journal },
            admission: Admission::new(next_task_id, instance, layout),
            queue: JobQueue::new(limits),
            workers: Workers::new(),
            stopping: AtomicBool::new(false),
            queue_timer: Mutex::new(None),
            ended: EndedViews::default(),
        });
        super::limits::start(&shared.config.limits, shared.ledger.history.instance_id());
        super::tally::announce();
        recovery::recover(&shared.ledger, &shared.queue, &started)?;
        Workers::start(&shared, workers);
        let timer = Arc::clone(&shared);
        let timer = std::thread::Builder::new()
            .name("portico-queue-timer".into())
            .spawn(move || timer.queue.run_timer(&timer.stopping, &timer.ledger))
            .map_err(|e| JobError::storage("start the queue timer", e))?;
        *lock(&shared.queue_timer) = Some(timer);
        Ok(Scheduler { shared })
    }

    /// Accepts a job: assigns its ids, writes its first log lines, commits its history row, and
    /// queues it.
    pub fn submit(&self, request: JobRequest, who: Submitter<'_>) -> Result<JobView, JobError> {
        let shared = &self.shared;
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(JobError::ShuttingDown);
        }
        request
            .engine
            .check(&shared.config, who.execute_user, &request.params)
            .map_err(|e| JobError::invalid(ENGINE_REFUSED, e.to_string()))?;
        priority::allowed(priority::of(&request.params)?, shared.config.queue.max_user_priority, who.admin)?;
        // The place is held before the job has an id or a file, so a refusal leaves nothing.
        let place = shared.queue.reserve(who.execute_user).map_err(queue_full)?;
        let (spec, notes) = shared.admission.spec_for(request, who);
        let task_id = spec.task_id;
        let log = shared
            .admission
            .first_log_lines(&spec, &notes)
            .map_err(|e| JobError::storage("create the job's files", e))?;
        let held = log.held_bytes().map(<[u8]>::to_vec).unwrap_or_default();
        let record = new_record(&spec, &shared.admission.instance);
        // In the store before the row is visible, so a lookup never sees a row without its job.
        let entry = Arc::new(JobEntry::new(spec));
        entry.keep_log(log);
        shared.ledger.store.insert(Arc::clone(&entry));
        if let Err(e) = shared.ledger.history.insert_held(record, held) {
            shared.ledger.store.remove(task_id);
            return Err(JobError::storage("record the job in the history", e));
        }
        super::tally::tally(&entry.spec, &mut entry.live());
        log::info!("job {task_id} accepted: {} for {}", entry.spec.engine_type, entry.spec.execute_user);
        place.push(Arc::clone(&entry));
        // A pause that came while the row was being committed (the job was in no queue yet)
        // found nothing to hold: it holds now, and the history and log are told as for any
        // queued job.
        let paused = {
            let _queue = shared.queue.lock();
            let live = entry.live();
            live.paused.then(|| (live.paused_for(), live.pause_changed_by.clone().unwrap_or_default()))
        };
        if let Some((paused_for, by)) = paused {
            shared.ledger.record(task_id, pause_update(true, paused_for));
            entry.log_event(Level::Info, &wording::paused_in_queue(&by));
        }
        // Likewise a kill: it was told the job would end, so the job must not wait its turn.
        // Taken from the queue here, or by a worker that got it first (which checks too).
        let killed_by = entry.live().kill_requested_by.clone();
        if let Some(by) = killed_by {
            if shared.queue.remove_to_end(&entry) {
                shared.ledger.end_claimed_unstarted(&entry, JobState::Cancelled, None, &wording::killed_by(&by));
            }
        }
        Ok(JobView::of_entry(&entry, None))
    }

    /// The job with this execID or taskID as it is now: from memory while it is queued or
    /// running, from its history row once it has ended (also from before a restart).
    pub fn view(&self, id: &str) -> Option<JobView> {
        if let Some(entry) = self.shared.ledger.store.find(id) {
            return Some(self.view_of(&entry));
        }
        if let Some(view) = self.shared.ended.get(id) {
            return Some(view);
        }
        let history = &self.shared.ledger.history;
        let read_at = self.shared.ended.read_at();
        let record = match super::task_id_of(id) {
            Some(task_id) => history.get(task_id),
            None => history.find_exec_id(id),
        };
        match record {
            Ok(record) => {
                let view = record.as_ref().and_then(JobView::of_record)?;
                self.shared.ended.keep(&view, read_at);
                Some(view)
            }
            Err(e) => {
                log::error!("cannot look job {id} up in the history: {e}");
                None
            }
        }
    }

    /// Whether job `task_id`'s log is finished, asked without touching the store: the probe
    /// holds the job weakly and reads its state (one short lock of its live state). The end is
    /// published after the closing lines are flushed, so "finished" means all lines are on
    /// disk. A job no longer in memory has ended.
    pub fn log_finished(&self, task_id: TaskId) -> crate::storage::log_follow::Finished {
        match self.shared.ledger.store.get(task_id) {
            Some(entry) => {
                let entry = Arc::downgrade(&entry);
                Box::new(move || entry.upgrade().is_none_or(|e| e.live().state.is_terminal()))
            }
            None => Box::new(|| true),
        }
    }

    fn view_of(&self, entry: &Arc<JobEntry>) -> JobView {
        JobView::of_entry(entry, self.shared.queue.position(entry))
    }

    /// Told before retention's history cap deletes these jobs' rows, and [`Scheduler::deleted`]
    /// after: in between and after, no cached view answers for them.
    pub fn deleting(&self, task_ids: &[TaskId]) {
        self.shared.ended.deleting(task_ids);
    }

    /// See [`Scheduler::deleting`].
    pub fn deleted(&self, task_ids: &[TaskId]) {
        self.shared.ended.deleted(task_ids);
    }

    /// Makes a job's log the file `log_path` if its lines are held rather than a file: in
    /// memory while the job has not ended, in its history row after. Readers read files.
    pub fn make_log_file(&self, task_id: TaskId, log_path: &Path) -> Result<(), JobError> {
        let failed = |e| JobError::storage("make the job's log file", e);
        if let Some(entry) = self.shared.ledger.store.get(task_id) {
            // An ended job's row has its lines (its end is shown once committed).
            if !entry.live().state.is_terminal() {
                return entry.make_log_file().map_err(failed);
            }
        }
        // Retention removes ended jobs' files under this lock until the history says so.
        let _removal = log_file::ended_logs_lock();
        if log_path.exists() {
            return Ok(());
        }
        // Nothing for a job whose files retention removed.
        let held =
            self.shared.ledger.history.held_log(task_id).map_err(|e| JobError::storage("read the job history", e))?;
        match held {
            Some(lines) if !lines.is_empty() => log_file::make_held_file(log_path, &lines).map_err(failed),
            _ => Ok(()),
        }
    }

    /// A job's history row, with the status and progress of a job still in memory.
    pub fn history_record(&self, task_id: TaskId) -> Result<Option<JobRecord>, JobError> {
        let mut record =
            self.shared.ledger.history.get(task_id).map_err(|e| JobError::storage("read the job history", e))?;
        if let Some(record) = &mut record {
            self.overlay(record);
        }
        Ok(record)
    }

    /// A page of history rows and the total count, with live status and progress overlaid.
    pub fn history_list(&self, filter: &ListFilter) -> Result<(Vec<JobRecord>, u64), JobError> {
        let (mut records, total) =
            self.shared.ledger.history.list(filter).map_err(|e| JobError::storage("read the job history", e))?;
        for record in &mut records {
            self.overlay(record);
        }
        Ok((records, total))
    }

    fn overlay(&self, record: &mut JobRecord) {
        if let Some(entry) = self.shared.ledger.store.get(record.task_id) {
            view::overlay_live(record, &entry.live());
        }
    }

    /// The job history, for what keeps it beside the scheduler (retention, backups); they
    /// touch only rows of jobs that have ended.
    pub fn history(&self) -> &History {
        &self.shared.ledger.history
    }

    /// Stops taking and starting jobs, gives running jobs up to `grace` to finish, kills the
    /// rest, and waits until every job is recorded. Queued jobs stay queued in the history and
    /// run after the next start.
    pub fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        {
            let _queue = shared.queue.lock();
            shared.queue.wake_all();
        }
        let still_running = shared.workers.wait_idle(grace);
        if still_running > 0 {
            log::warn!("{still_running} jobs still running after the shutdown grace of {grace:?}: killing them");
            for entry in shared.ledger.store.unfinished() {
                let queued = shared.queue.lock().contains(&entry);
                if !queued {
                    self.kill_entry(&entry, "the server (shutting down)");
                }
            }
        }
        shared.workers.join();
        if let Some(timer) = lock(&shared.queue_timer).take() {
            let _ = timer.join();
        }
        shared.ledger.history.close();
    }
}
