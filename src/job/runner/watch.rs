//! What the worker does on its timers: the deadlines that have passed (run timeout, SIGKILL
//! after SIGTERM, the end of a drain), and once a second while the job runs, a look at the
//! group's CPU and memory, the size of the result sets the job writes by itself, and the job's
//! process and memory limits. It must not know HTTP.

use std::time::{Duration, Instant};

use super::{Phase, Run};
use crate::job::{control, wording};
use crate::storage::log_file::Level;

/// How often the group's CPU and memory are sampled while it runs.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl Run<'_> {
    /// Acts on every deadline that has passed; `false` means stop waiting for output.
    pub(super) fn on_deadlines(&mut self) -> bool {
        let now = Instant::now();
        if self.exited.is_none() && now >= self.next_sample {
            self.sample();
            self.next_sample = now + SAMPLE_EVERY;
        }
        if let Some(deadline) = self.run_deadline() {
            if now >= deadline {
                let limit = self.entry.spec.running_timeout.unwrap_or_default();
                let ran = self.started.elapsed().saturating_sub(self.entry.live().paused_for());
                let reason = wording::over_run_time(ran, limit);
                self.entry.log_event(Level::Error, &reason);
                self.timed_out = Some(reason);
                let by = "the server (run timeout)";
                // Stored like a user's kill, so a pause or kill asked for now sees the job dying.
                self.entry.live().kill_requested_by.get_or_insert_with(|| by.to_string());
                self.begin_kill(by);
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
                if self.killed.is_some() {
                    self.entry.log_event(
                        Level::Warn,
                        &format!(
                            "The job did not end within {:?} of SIGTERM; sent SIGKILL to its process group.",
                            self.config.kill_grace
                        ),
                    );
                }
                self.signal(libc::SIGKILL);
                self.phase = Phase::Abandoning { until: now + Duration::from_secs(1) };
            }
            Phase::Abandoning { until } if now >= until => return false,
            _ => {}
        }
        true
    }

    pub(super) fn sample(&mut self) {
        let sample = control::sample_job(self.pgid);
        self.entry.live().record_sample(sample);
        self.trim_results();
        if self.over_limit.is_none() && matches!(self.phase, Phase::Running { .. }) && self.killed.is_none() {
            if let Some(reason) = self.confinement.breach(&sample) {
                self.over_limit(reason);
            }
        }
    }

    /// The job went past one of its limits: it is said in its log, and the job is killed and
    /// will end `Failed` with `reason`.
    fn over_limit(&mut self, reason: String) {
        log::info!("job {}: {reason}", self.entry.spec.task_id);
        self.entry.log_event(Level::Error, &format!("Over its limits: {reason}."));
        self.over_limit = Some(reason);
        let by = "the server (over the job's limits)";
        self.entry.live().kill_requested_by.get_or_insert_with(|| by.to_string());
        self.begin_kill(by);
    }
}
