//! Keeps the job metrics (`crate::metrics`) in step with jobs' states: called right after a
//! job's state is set, under the same lock of its live state, it moves the job from the state
//! it was counted in to the one it is in now. Counting what the metrics last saw, rather than
//! trusting each caller to say where a job came from, keeps the gauges right for jobs that
//! enter memory in the middle of their life (restart recovery) and for repeated calls.

use super::store::{JobLive, JobSpec};
use super::JobState;
use crate::metrics::{self, EngineLabel, JobLabels};

/// Creates every engine's state series at zero, so a scrape shows them (and a rate over them
/// starts) before the first job of an engine.
pub(super) fn announce() {
    let metrics = metrics::get();
    for engine in crate::engine::Engine::ALL.map(crate::engine::Engine::name) {
        for state in [JobState::Inited, JobState::Scheduled, JobState::Running] {
            let _ = metrics.jobs.get_or_create(&JobLabels { state: state.as_str(), engine });
        }
        for state in JobState::ENDED {
            let _ = metrics.jobs_ended.get_or_create(&JobLabels { state: state.as_str(), engine });
        }
    }
}

/// Moves the job's count to its current state; on its final state, counts the end and its
/// run time.
pub(super) fn tally(spec: &JobSpec, live: &mut JobLive) {
    let state = live.state;
    if live.counted_as == Some(state) {
        return;
    }
    let metrics = metrics::get();
    let engine = spec.engine.name();
    if let Some(before) = live.counted_as.filter(|s| !s.is_terminal()) {
        metrics.jobs.get_or_create(&JobLabels { state: before.as_str(), engine }).dec();
    }
    live.counted_as = Some(state);
    let labels = JobLabels { state: state.as_str(), engine };
    if !state.is_terminal() {
        metrics.jobs.get_or_create(&labels).inc();
        if state == JobState::Running {
            if let Some(started) = live.started_at_ms {
                let waited = started.saturating_sub(spec.created_at_ms) as f64 / 1000.0;
                metrics.queue_wait.get_or_create(&EngineLabel { engine }).observe(waited);
            }
        }
        return;
    }
    metrics.jobs_ended.get_or_create(&labels).inc();
    if let (Some(started), Some(ended)) = (live.started_at_ms, live.ended_at_ms) {
        metrics.job_duration.get_or_create(&labels).observe(ended.saturating_sub(started) as f64 / 1000.0);
    }
}
