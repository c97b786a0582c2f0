//! One job's life on a worker thread: start the process, pump its output, obey control
//! signals and deadlines, and record how it ended.
//!
//! The worker thread owns the child completely. `job_io.rs` turns stdout and stderr into line
//! events and tells when the main process ends, watching from the worker's own thread for the
//! job's first milliseconds (most trivial jobs end within them) and then from an io thread;
//! the worker blocks on
//! `crossbeam_channel::select!` over those events, the job's wake-ups, and the nearest deadline
//! (kill escalation, run timeout, output drain, resource sample). Nothing else touches the
//! process group, except `workers.rs` killing it after a panic here. It must not know HTTP. A wake-up only says "look again": kill and pause intent live in the job's
//! [`JobLive`](super::store::JobLive), and the run's [`Phase`] says what the worker is doing
//! about the process.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver};

use super::child::{self, Event, ExitInfo};
use super::control;
use super::finish::{Ending, Ledger};
use super::job_io;
use super::limits::Confinement;
use super::pipes::{Budget, CloseOnDrop, EVENT_BUFFER};
use super::record::{pause_update, status_update};
use super::starts::Starts;
use super::store::{JobEntry, Wake};
use super::wording;
use super::JobState;
use crate::clock;
use crate::config::Config;
use crate::storage::history::JobUpdate;
use crate::storage::log_file::Level;
use crate::storage::result_set::TextResultWriter;

mod ending;
mod output;
mod start;
mod watch;

use output::STDERR_TAIL_LINES;

use watch::SAMPLE_EVERY;
/// Runs a job taken from the queue to its end. A job that never starts is ended here; the
/// end of one that ran is decided and returned, for the worker to commit along with its next
/// job's start ([`Starts::started`]). `previous` is the end the worker decided before: it is
/// committed with this job's start, or left for the worker if this job never gets there.
/// `starts` are the worker's starts whose commits are not confirmed yet.
pub fn run(
    config: &Config,
    ledger: &Ledger,
    starts: &mut Starts,
    entry: &Arc<JobEntry>,
    previous: &mut Option<(Arc<JobEntry>, Ending)>,
) -> Option<Ending> {
    let task_id = entry.spec.task_id;
    let Some(wakes) = entry.take_control() else {
        log::error!("job {task_id} was handed to a second worker; ignoring it");
        return None;
    };
    if let Some(limit) = entry.spec.queuing_timeout {
        let waited = entry.spec.created.elapsed();
        if waited > limit {
            ledger.end_unstarted(entry, JobState::Timeout, &wording::over_queue_time(waited, limit));
            return None;
        }
    }
    {
        let mut live = entry.live();
        if live.state.is_terminal() || live.ending {
            return None;
        }
        live.state = JobState::Scheduled;
        super::tally::tally(&entry.spec, &mut live);
    }
    let (child, confinement) = start::spawn(config, ledger, starts, entry)?;
    let pgid = child.id() as i32;
    let started_at_ms = clock::now_millis();
    // Its run's clock (timeout, the summary's duration) starts here, not after the first
    // milliseconds the worker may spend watching it.
    let started = Instant::now();
    // Not sampled here: the first view of the running job takes a sample if the worker has
    // not yet (`JobEntry::live_sampled`).
    let start_ticks = control::start_ticks(pgid);
    {
        let mut live = entry.live();
        live.state = JobState::Running;
        live.started_at_ms = Some(started_at_ms);
        live.pgid = Some(pgid);
        super::tally::tally(&entry.spec, &mut live);
    }
    log::info!("job {task_id} Running as process group {pgid}");
    entry.log_held(Level::Info, wording::RUNNING);
    if let Some(limits) = confinement.describe() {
        entry.log_held(Level::Info, &limits);
    }
    // Not waited for: the journal already tells recovery the job may be running, and recovery
    // finds its processes by their `PORTICO_JOB` marker; the process group recorded here is a
    // second way in, for processes that cleared their environment. It carries the log's lines
    // so far if they are held rather than a file, and goes with the previous job's end.
    let running = JobUpdate {
        started_ms: Some(started_at_ms),
        pgid: Some(i64::from(pgid)),
        pgid_start_ticks: start_ticks,
        boot_id: control::boot_id(),
        held_log: entry.held_log(),
        ..status_update(JobState::Running)
    };
    starts.started(ledger, task_id, running, previous);

    let (events_tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    let budget = Budget::new();
    // The io thread, if it waits for room, is let go once the worker stops reading, however
    // it stops.
    let _release_io = CloseOnDrop(Arc::clone(&budget));
    // Watched by this thread for its first milliseconds, unless a kill or pause comes.
    let watched = job_io::spawn(child, Arc::clone(&budget), events_tx, || !wakes.is_empty());

    let mut run = Run::new(config, ledger, entry, (pgid, started), confinement, starts);
    if let Err(pid) = watched {
        // Nothing watches the process: end it and reap it here.
        run.signal(libc::SIGKILL);
        run.exited = Some(child::wait_for(pid));
        run.open_streams = 0;
    }
    // A kill or pause asked for while the job was starting: act on it now.
    run.on_wake();
    run.pump(&events, &wakes);
    run.finish()
}

/// What the worker is doing about the job's processes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// The main process runs; `stopped` while a pause has it SIGSTOPped.
    Running { stopped: bool },
    /// SIGTERM has been sent; SIGKILL follows at `escalate_at` (then `None`).
    Killing { escalate_at: Option<Instant> },
    /// The main process has exited; its output is awaited until `until`.
    Draining { until: Instant },
    /// What was left of the group has been SIGKILLed; its output is awaited until `until`,
    /// then given up.
    Abandoning { until: Instant },
}

/// Who killed the job and how big its group was then, for the log.
struct KillNote {
    /// A user name, or the server for timeouts and shutdown.
    by: String,
    processes: u32,
}

/// The worker's view of a running job.
struct Run<'a> {
    config: &'a Config,
    ledger: &'a Ledger,
    entry: &'a Arc<JobEntry>,
    pgid: i32,
    started: Instant,
    result: Option<TextResultWriter>,
    /// The stdout result set takes no more rows: it could not be written, or it is full.
    result_broken: bool,
    /// Result sets whose cut at the size cap the log has told.
    cut_noted: HashSet<String>,
    /// The log reached `max_log_bytes`: the job's output no longer goes to it.
    log_full: bool,
    phase: Phase,
    stderr_tail: VecDeque<String>,
    killed: Option<KillNote>,
    timed_out: Option<String>,
    /// The job's cgroups and other limits.
    confinement: Confinement,
    /// Which of its limits the job went past (it is then killed, and ends `Failed`).
    over_limit: Option<String>,
    /// Why the job failed, in its own words (an `##portico:error` line), if it said.
    reported_error: Option<String>,
    /// Whether the job's stdout lines make its text result set (its engine's and run type's
    /// answer, asked once rather than per line).
    stdout_is_result: bool,
    exited: Option<ExitInfo>,
    open_streams: u32,
    next_sample: Instant,
    /// The worker's starts whose commits are not confirmed yet: confirmed as they arrive,
    /// so an end is shown as soon as it is durable, however long this job runs.
    starts: &'a mut Starts,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a Config,
        ledger: &'a Ledger,
        entry: &'a Arc<JobEntry>,
        (pgid, started): (i32, Instant),
        confinement: Confinement,
        starts: &'a mut Starts,
    ) -> Run<'a> {
        Run {
            config,
            ledger,
            entry,
            pgid,
            started,
            result: None,
            result_broken: false,
            cut_noted: HashSet::new(),
            log_full: false,
            phase: Phase::Running { stopped: false },
            stderr_tail: VecDeque::with_capacity(STDERR_TAIL_LINES),
            killed: None,
            timed_out: None,
            confinement,
            over_limit: None,
            reported_error: None,
            stdout_is_result: entry.spec.engine.stdout_is_result(&entry.spec.run_type),
            exited: None,
            open_streams: 2,
            next_sample: Instant::now() + SAMPLE_EVERY,
            starts,
        }
    }

    /// The event loop: returns once the main process has exited and its output is drained.
    fn pump(&mut self, events: &Receiver<Event>, wakes: &Receiver<Wake>) {
        loop {
            if self.exited.is_some() && self.open_streams == 0 {
                return;
            }
            let now = Instant::now();
            let wait = self.next_deadline().map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(now));
            let start_committed = self.starts.oldest_outcome().unwrap_or_else(never);
            select! {
                recv(start_committed) -> outcome => self.starts.confirm_oldest(self.ledger, Some(outcome)),
                recv(events) -> event => match event {
                    Ok(event) => self.on_event(event),
                    Err(_) => return,
                },
                recv(wakes) -> wake => if wake.is_ok() {
                    self.on_wake();
                },
                default(wait) => {}
            }
            if !self.on_deadlines() {
                return;
            }
            if events.is_empty() {
                self.flush();
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Running { .. } => None,
            Phase::Killing { escalate_at } => escalate_at,
            Phase::Draining { until } | Phase::Abandoning { until } => Some(until),
        };
        let sample = self.exited.is_none().then_some(self.next_sample);
        [phase, self.run_deadline(), sample].into_iter().flatten().min()
    }

    /// When the run timeout fires: paused time does not count.
    fn run_deadline(&self) -> Option<Instant> {
        let limit = self.entry.spec.running_timeout?;
        if !matches!(self.phase, Phase::Running { .. }) || self.timed_out.is_some() || self.exited.is_some() {
            return None;
        }
        let live = self.entry.live();
        if live.paused {
            return None;
        }
        self.started.checked_add(limit)?.checked_add(live.paused_for())
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Lines(stream, lines) => {
                for line in lines.iter() {
                    self.on_line(stream, line);
                }
            }
            Event::Closed => self.open_streams = self.open_streams.saturating_sub(1),
            Event::Exited(info) => {
                self.exited = Some(info);
                self.entry.live().process_exited = true;
                if self.open_streams > 0 {
                    // A kill in progress keeps its SIGKILL time if that comes sooner.
                    let drain = Instant::now() + self.config.kill_grace;
                    let until = match self.phase {
                        Phase::Killing { escalate_at: Some(at) } => at.min(drain),
                        _ => drain,
                    };
                    self.phase = Phase::Draining { until };
                }
            }
        }
    }

    /// Acts on the job's live intent: a kill asked for, or a pause or resume not yet carried
    /// out. Called on every wake-up, so a late or repeated wake-up changes nothing.
    fn on_wake(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let (kill_by, paused, by) = {
            let live = self.entry.live();
            (live.kill_requested_by.clone(), live.paused, live.pause_changed_by.clone())
        };
        if let Some(by) = kill_by {
            return self.begin_kill(&by);
        }
        let Phase::Running { stopped } = self.phase else {
            return;
        };
        let by = by.unwrap_or_else(|| "the server".to_string());
        if paused && !stopped {
            self.signal(libc::SIGSTOP);
            self.phase = Phase::Running { stopped: true };
            self.record_pause(true);
            log::info!("job {} paused by {by}", self.entry.spec.task_id);
            self.entry.log_event(Level::Info, &wording::paused_running(&by));
        } else if !paused && stopped {
            self.signal(libc::SIGCONT);
            self.phase = Phase::Running { stopped: false };
            let paused_for = self.entry.live().paused_for();
            self.record_pause(false);
            log::info!("job {} resumed by {by}", self.entry.spec.task_id);
            self.entry.log_event(Level::Info, &wording::resumed_running(&by, paused_for));
        }
    }

    fn begin_kill(&mut self, by: &str) {
        if !matches!(self.phase, Phase::Running { .. }) || self.killed.is_some() {
            return;
        }
        let processes = control::job_processes(self.pgid).len() as u32;
        self.signal(libc::SIGTERM);
        // A stopped process only acts on SIGTERM once continued.
        self.signal(libc::SIGCONT);
        self.entry.live().resume();
        log::info!("job {} being killed by {by}", self.entry.spec.task_id);
        self.entry.log_event(
            Level::Warn,
            &format!("Job is being killed by {by}: sent SIGTERM to its process group ({processes} processes)."),
        );
        self.killed = Some(KillNote { by: by.to_string(), processes });
        self.phase = Phase::Killing { escalate_at: Some(Instant::now() + self.config.kill_grace) };
    }

    fn record_pause(&self, paused: bool) {
        let paused_for = self.entry.live().paused_for();
        self.ledger.record(self.entry.spec.task_id, pause_update(paused, paused_for));
    }

    fn signal(&self, signal: i32) {
        if let Err(e) = control::signal_group(self.pgid, signal) {
            log::warn!("job {}: cannot signal process group {}: {e}", self.entry.spec.task_id, self.pgid);
        }
    }
}
