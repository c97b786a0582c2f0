//! How a run ends: nothing of the group left alive, the outcome decided, the log closed, and
//! the end committed through the ledger. It must not know HTTP.

use std::time::{Duration, Instant};

use super::Run;
use crate::engine::PENDING_RESULT_PREFIX;
use crate::job::child::ExitInfo;
use crate::job::finish::{error_code, Ending};
use crate::job::{control, wording, JobState};
use crate::storage::log_file::Level;
use crate::storage::result_set;

impl Run<'_> {
    /// Makes sure nothing of the group survives, and decides how the job ended (see
    /// [`Ledger::decide_end`](crate::job::finish::Ledger::decide_end)).
    pub(super) fn finish(mut self) -> Option<Ending> {
        let mut leftovers = self.reap_group();
        // What hit a limit at the very end (an OOM kill of the last process) still counts.
        if self.over_limit.is_none() && self.timed_out.is_none() && self.killed.is_none() {
            self.over_limit = self.confinement.breach(&crate::job::view::Resources::default());
            if let Some(reason) = &self.over_limit {
                self.entry.log_event(Level::Error, &format!("Over its limits: {reason}."));
            }
        }
        leftovers.extend(self.confinement.release());
        let spec = &self.entry.spec;
        crate::job::request::runtime::remove_empty_working_dir(&spec.work_dir, spec.engine, &spec.params);
        if spec.engine.clean_up(&spec.work_dir) {
            crate::job::spare_dirs::retire_empty(&spec.work_dir);
        } else {
            crate::job::spare_dirs::retire(&spec.work_dir);
        }
        // Nothing of the job writes any more: its results are final once held to the cap.
        // Tables a job wrote but never announced (it was killed in between) are not results.
        self.flush();
        drop(self.result.take());
        let limit = self.config.limits.max_result_set_bytes;
        let settled = result_set::settle(&self.entry.spec.result_dir, PENDING_RESULT_PREFIX, limit);
        for (name, _) in &settled.cut {
            self.note_cut(&self.entry.spec.result_dir.join(name));
        }
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
        // Carried by the end's commit if the log is still held (`Ending::decided`).
        self.entry.log_held(Level::Info, &summary);
        if let Some(reason) = &reason {
            self.entry.log_held(Level::Error, &wording::failed_with(reason));
        }
        self.entry.log_held(Level::Info, &wording::completion(state));
        self.flush();
        self.entry.close_log();
        let ending = self.ledger.decide_end(self.entry, |live| {
            live.state = state;
            live.result_sets = settled.count;
            live.exit_code = exit.map(|e| e.code);
            live.resources = resources;
            if state != JobState::Succeed {
                live.err_code = Some(error_code(spec.engine, state));
                live.err_desc = reason;
            }
        });
        log::info!("job {} {state}", spec.task_id);
        ending
    }

    fn outcome(&self, exit: Option<ExitInfo>) -> (JobState, Option<String>) {
        if let Some(reason) = &self.timed_out {
            return (JobState::Timeout, Some(reason.clone()));
        }
        if let Some(reason) = &self.over_limit {
            return (JobState::Failed, Some(reason.clone()));
        }
        if let Some(killing) = &self.killed {
            return (JobState::Cancelled, Some(wording::killed_by(&killing.by)));
        }
        match exit {
            Some(exit) if exit.code == 0 => (JobState::Succeed, None),
            Some(exit) if exit.signal.is_none() && self.reported_error.is_some() => {
                (JobState::Failed, self.reported_error.clone())
            }
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
        // One system call when the group is gone, unless the engine's processes may have left
        // it for the job's session (then it takes a look at /proc).
        if !control::group_exists(self.pgid) && !self.entry.spec.engine.leaves_its_group() {
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
            // Those that left the group, one by one, each checked again once pinned.
            for straggler in members.iter().filter(|p| p.pgrp != self.pgid) {
                let pgid = self.pgid;
                control::kill_if(straggler.pid, || {
                    control::read_stat(straggler.pid).is_some_and(|p| p.session == pgid)
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
