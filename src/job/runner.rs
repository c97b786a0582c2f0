//! One job's life on a worker thread: start the process, pump its output, obey control
//! signals and deadlines, and record how it ended.
//!
//! The worker thread owns the child completely. Two reader threads turn stdout and stderr into
//! line events and a reaper thread waits for the main process; the worker blocks on
//! `crossbeam_channel::select!` over those events, the job's wake-ups, and the nearest deadline
//! (kill escalation, run timeout, output drain, resource sample). Nothing else touches the
//! process group. A wake-up only says "look again": kill and pause intent live in the job's
//! [`JobLive`](super::store::JobLive), and the run's [`Phase`] says what the worker is doing
//! about the process.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use super::child::{self, Event, ExitInfo, Stream, EVENT_BUFFER};
use super::control;
use super::finish::{error_code, Ledger};
use super::record::{pause_update, status_update};
use super::store::{JobEntry, StageCounts, Wake};
use super::wording;
use super::JobState;
use crate::clock;
use crate::config::Config;
use crate::storage::history::JobUpdate;
use crate::storage::log_file::Level;
use crate::storage::result_set::TextResultWriter;

/// Lines a job prints to report progress: `##portico:progress 0.42` or `##portico:progress 3/10`.
pub const PROGRESS_MARKER: &str = "##portico:progress";

/// The most stages a `n/m` progress marker may report; larger markers are ignored.
const MAX_STAGES: u64 = 1_000_000_000_000;

/// How many trailing stderr lines a failed job's error description quotes.
const STDERR_TAIL_LINES: usize = 5;

/// How often the group's CPU and memory are sampled while it runs.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Runs a job taken from the queue to its end and ends it through the ledger.
pub fn run(config: &Config, ledger: &Ledger, entry: &Arc<JobEntry>) {
    let task_id = entry.spec.task_id;
    let history = &ledger.history;
    let Some(wakes) = entry.take_control() else {
        log::error!("job {task_id} was handed to a second worker; ignoring it");
        return;
    };
    if let Some(limit) = entry.spec.queuing_timeout {
        let waited = entry.spec.created.elapsed();
        if waited > limit {
            return ledger.end_unstarted(entry, JobState::Timeout, &wording::over_queue_time(waited, limit));
        }
    }
    {
        let mut live = entry.live();
        if live.state.is_terminal() {
            return;
        }
        live.state = JobState::Scheduled;
    }
    // Committed before the process starts: after a crash, a `Scheduled` row means "may have
    // started", so recovery never runs it a second time. Without that record it must not start.
    let scheduled = status_update(JobState::Scheduled);
    if let Err(e) = history.update(task_id, scheduled, true) {
        let reason = format!("the job history could not record the job's start, so it was not started: {e}");
        return ledger.end_unstarted(entry, JobState::Failed, &reason);
    }
    // A kill that arrived while the worker was taking the job: it must not start at all.
    let killed_by = entry.live().kill_requested_by.clone();
    if let Some(by) = killed_by {
        return ledger.end_unstarted(entry, JobState::Cancelled, &wording::killed_by(&by));
    }
    log::info!("job {task_id} Scheduled");
    entry.log_event(Level::Info, wording::SCHEDULED);

    let mut child = match child::start(config, entry, &child::job_marker(history, task_id)) {
        Ok(child) => child,
        Err(e) => {
            let reason = format!("cannot start the {} engine: {e}", entry.spec.engine.name());
            return ledger.end_unstarted(entry, JobState::Failed, &reason);
        }
    };
    let pgid = child.id() as i32;
    let started_at_ms = clock::now_millis();
    {
        let mut live = entry.live();
        live.state = JobState::Running;
        live.started_at_ms = Some(started_at_ms);
        live.pgid = Some(pgid);
    }
    // Not waited for: the `Scheduled` row already tells recovery the job may be running, and
    // recovery finds its processes by their `PORTICO_JOB` marker; the process group recorded
    // here is a second way in, for processes that cleared their environment.
    let running = JobUpdate {
        started_ms: Some(started_at_ms),
        pgid: Some(i64::from(pgid)),
        pgid_start_ticks: control::read_stat(pgid).map(|stat| stat.start_ticks),
        boot_id: control::boot_id(),
        ..status_update(JobState::Running)
    };
    ledger.record(task_id, running);
    log::info!("job {task_id} Running as process group {pgid}");
    entry.log_event(Level::Info, wording::RUNNING);

    let (events_tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    if let Some(stdout) = child.stdout.take() {
        child::spawn_reader(stdout, Stream::Stdout, events_tx.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        child::spawn_reader(stderr, Stream::Stderr, events_tx.clone());
    }
    let reaped = child::spawn_reaper(child, events_tx);

    let mut run = Run::new(config, ledger, entry, pgid);
    if let Err(pid) = reaped {
        // No thread to wait for the process: end it and reap it here.
        run.signal(libc::SIGKILL);
        run.exited = Some(child::wait_for(pid));
        run.open_streams = 0;
    }
    // A kill or pause asked for while the job was starting: act on it now.
    run.on_wake();
    run.pump(&events, &wakes);
    run.finish();
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
    entry: &'a JobEntry,
    pgid: i32,
    started: Instant,
    result: Option<TextResultWriter>,
    result_broken: bool,
    /// The log reached `max_log_bytes`: the job's output no longer goes to it.
    log_full: bool,
    phase: Phase,
    stderr_tail: VecDeque<String>,
    killed: Option<KillNote>,
    timed_out: Option<String>,
    exited: Option<ExitInfo>,
    open_streams: u32,
    next_sample: Instant,
}

impl<'a> Run<'a> {
    fn new(config: &'a Config, ledger: &'a Ledger, entry: &'a JobEntry, pgid: i32) -> Run<'a> {
        Run {
            config,
            ledger,
            entry,
            pgid,
            started: Instant::now(),
            result: None,
            result_broken: false,
            log_full: false,
            phase: Phase::Running { stopped: false },
            stderr_tail: VecDeque::with_capacity(STDERR_TAIL_LINES),
            killed: None,
            timed_out: None,
            exited: None,
            open_streams: 2,
            next_sample: Instant::now() + SAMPLE_EVERY,
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
            select! {
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

    /// Acts on every deadline that has passed; `false` means stop waiting for output.
    fn on_deadlines(&mut self) -> bool {
        let now = Instant::now();
        if self.exited.is_none() && now >= self.next_sample {
            self.sample();
            self.next_sample = now + SAMPLE_EVERY;
        }
        if let Some(deadline) = self.run_deadline() {
            if now >= deadline {
                let limit = self.entry.spec.running_timeout.unwrap_or_default().as_secs();
                let ran = self.started.elapsed().saturating_sub(self.entry.live().paused_for()).as_secs();
                let reason = format!("Job run {ran} seconds over max run time : {limit} seconds.");
                self.entry.log_event(Level::Error, &reason);
                self.timed_out = Some(reason);
                self.begin_kill("the server (run timeout)");
            }
        }
        match self.phase {
            Phase::Killing { escalate_at: Some(at) } if now >= at => {
                self.phase = Phase::Killing { escalate_at: None };
                self.signal(libc::SIGKILL);
                self.entry.log_event(
                    Level::Warn,
                    &format!(
                        "The job did not end within {:?} of SIGTERM; sent SIGKILL to its process group.",
                        self.config.kill_grace
                    ),
                );
            }
            Phase::Draining { until } if now >= until => {
                // The main process is gone but something still holds its output open: end the
                // rest of the group, then give the pipes a moment to close.
                self.signal(libc::SIGKILL);
                self.phase = Phase::Abandoning { until: now + Duration::from_secs(1) };
            }
            Phase::Abandoning { until } if now >= until => return false,
            _ => {}
        }
        true
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Line(stream, line) => self.on_line(stream, line),
            Event::Closed => self.open_streams = self.open_streams.saturating_sub(1),
            Event::Exited(info) => {
                self.exited = Some(info);
                if self.open_streams > 0 {
                    self.phase = Phase::Draining { until: Instant::now() + self.config.kill_grace };
                }
            }
        }
    }

    fn on_line(&mut self, stream: Stream, line: Vec<u8>) {
        let marker = line.starts_with(PROGRESS_MARKER.as_bytes());
        if marker {
            self.on_progress_marker(&String::from_utf8_lossy(&line[PROGRESS_MARKER.len()..]));
        }
        if stream == Stream::Stdout && !marker {
            self.append_result(&line);
        }
        if stream == Stream::Stderr {
            if self.stderr_tail.len() == STDERR_TAIL_LINES {
                self.stderr_tail.pop_front();
            }
            self.stderr_tail.push_back(String::from_utf8_lossy(&line).into_owned());
        }
        if self.log_full {
            return;
        }
        let cap = self.config.max_log_bytes;
        let written = self.entry.write_log(|log| {
            if log.bytes() + (line.len() as u64) < cap {
                return log.line(&line).map(|()| true);
            }
            log.event(
                Level::Warn,
                &format!(
                    "The log reached its limit of {cap} bytes here: the job's further output is not logged \
                     (its stdout still goes to the result set)."
                ),
            )?;
            Ok(false)
        });
        match written {
            Ok(true) => {}
            Ok(false) => self.log_full = true,
            Err(e) => log::error!("job {}: cannot write its log: {e}", self.entry.spec.task_id),
        }
    }

    fn on_progress_marker(&mut self, text: &str) {
        let text = text.trim();
        let mut live = self.entry.live();
        if let Some((done, total)) = text.split_once('/') {
            if let (Ok(done), Ok(total)) = (done.trim().parse::<u64>(), total.trim().parse::<u64>()) {
                if total > 0 && total <= MAX_STAGES {
                    let done = done.min(total);
                    live.reported_stages =
                        Some(StageCounts { succeed: done, failed: 0, running: u64::from(done < total), total });
                    live.raise_progress(done as f64 / total as f64);
                }
            }
        } else if let Ok(fraction) = text.parse::<f64>() {
            live.raise_progress(fraction);
        }
    }

    fn append_result(&mut self, line: &[u8]) {
        if self.result_broken {
            return;
        }
        if self.result.is_none() {
            match TextResultWriter::create(&self.entry.spec.result_dir.join("_0.dolphin")) {
                Ok(writer) => {
                    self.result = Some(writer);
                    self.entry.live().result_sets = 1;
                }
                Err(e) => {
                    self.result_broken = true;
                    log::error!("job {}: cannot create its result set: {e}", self.entry.spec.task_id);
                    self.entry.log_event(Level::Error, &format!("Cannot write the result set: {e}"));
                    return;
                }
            }
        }
        if let Some(result) = &mut self.result {
            if let Err(e) = result.row(line) {
                self.result_broken = true;
                self.entry.log_event(Level::Error, &format!("Cannot write the result set: {e}"));
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
            self.entry
                .log_event(Level::Info, &format!("Job paused by user {by}: its processes are stopped (SIGSTOP)."));
        } else if !paused && stopped {
            self.signal(libc::SIGCONT);
            self.phase = Phase::Running { stopped: false };
            let paused_for = self.entry.live().paused_for();
            self.record_pause(false);
            log::info!("job {} resumed by {by}", self.entry.spec.task_id);
            self.entry.log_event(
                Level::Info,
                &format!("Job resumed by user {by} (SIGCONT); paused {:.1}s in all.", paused_for.as_secs_f64()),
            );
        }
    }

    fn begin_kill(&mut self, by: &str) {
        if !matches!(self.phase, Phase::Running { .. }) || self.killed.is_some() {
            return;
        }
        let processes = control::group_members(self.pgid).len() as u32;
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

    fn sample(&mut self) {
        let sample = control::sample_group(self.pgid);
        self.entry.live().resources.update(sample);
    }

    fn flush(&mut self) {
        if let Err(e) = self.entry.write_log(|log| log.flush()) {
            log::error!("job {}: cannot flush its log: {e}", self.entry.spec.task_id);
        }
        if let Some(result) = &mut self.result {
            if let Err(e) = result.flush() {
                log::error!("job {}: cannot flush its result set: {e}", self.entry.spec.task_id);
            }
        }
    }

    /// Makes sure nothing of the group survives, records the outcome, and ends the job.
    fn finish(mut self) {
        let leftovers = self.reap_group();
        self.entry.spec.engine.clean_up(&self.entry.spec.work_dir);
        let exit = self.exited;
        // The final figures: the samples taken while it ran, and what wait4 reported at exit.
        let mut resources = self.entry.live().resources;
        if let Some(exit) = exit {
            resources.cpu_seconds = resources.cpu_seconds.max(exit.cpu_seconds);
            resources.peak_memory_bytes = resources.peak_memory_bytes.max(exit.max_rss_bytes);
        }
        resources.memory_bytes = 0;
        resources.processes = 0;
        let (state, reason) = self.outcome(exit);
        let spec = &self.entry.spec;
        if let Some(killing) = &self.killed {
            let verdict = if leftovers.is_empty() {
                "no process of the group is left".to_string()
            } else {
                format!("{} processes could not be killed: {:?}", leftovers.len(), leftovers)
            };
            self.entry.log_event(
                if leftovers.is_empty() { Level::Info } else { Level::Error },
                &format!(
                    "Killed by {}: process group {} had {} processes; {verdict}.",
                    killing.by, self.pgid, killing.processes
                ),
            );
        }
        let paused = self.entry.live().paused_for();
        let summary = format!(
            "Job ended: exit code {}, ran {:.3}s (paused {:.3}s), CPU {:.3}s, peak memory {} KiB.",
            exit.map_or("none".to_string(), |e| e.code.to_string()),
            self.started.elapsed().as_secs_f64(),
            paused.as_secs_f64(),
            resources.cpu_seconds,
            resources.peak_memory_bytes / 1024,
        );
        self.entry.log_event(Level::Info, &summary);
        if let Some(reason) = &reason {
            self.entry.log_event(Level::Error, &wording::failed_with(reason));
        }
        self.entry.log_event(Level::Info, &wording::completion(state));
        self.flush();
        self.entry.close_log();
        drop(self.result.take());

        self.ledger.end(self.entry, |live| {
            live.state = state;
            live.exit_code = exit.map(|e| e.code);
            live.resources = resources;
            if state != JobState::Succeed {
                live.err_code = Some(error_code(spec.engine, state));
                live.err_desc = reason;
            }
        });
        log::info!("job {} {state}", spec.task_id);
    }

    fn outcome(&self, exit: Option<ExitInfo>) -> (JobState, Option<String>) {
        if let Some(reason) = &self.timed_out {
            return (JobState::Timeout, Some(reason.clone()));
        }
        if let Some(killing) = &self.killed {
            return (JobState::Cancelled, Some(wording::killed_by(&killing.by)));
        }
        match exit {
            Some(exit) if exit.code == 0 => (JobState::Succeed, None),
            Some(exit) => {
                let how = match exit.signal {
                    Some(sig) => format!("was killed by signal {sig}"),
                    None => format!("exited with code {}", exit.code),
                };
                let tail: Vec<&str> = self.stderr_tail.iter().map(String::as_str).collect();
                (
                    JobState::Failed,
                    Some(
                        format!("run {} failed: the process {how}\n{}", self.entry.spec.engine.name(), tail.join("\n"))
                            .trim_end()
                            .to_string(),
                    ),
                )
            }
            None => (JobState::Failed, Some("the job's output was still open long after it ended".to_string())),
        }
    }

    /// SIGKILLs whatever is left of the group and waits (briefly) until none of it is alive;
    /// returns the pids that would not die.
    fn reap_group(&self) -> Vec<i32> {
        if !control::group_exists(self.pgid) {
            return Vec::new();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let members = control::group_members(self.pgid);
            if members.is_empty() {
                return Vec::new();
            }
            if Instant::now() >= deadline {
                return members.iter().map(|p| p.pid).collect();
            }
            self.signal(libc::SIGCONT);
            self.signal(libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
