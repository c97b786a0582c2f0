//! Conversions between live jobs and their history rows.
//!
//! The history stores plain rows; the job domain works with [`JobSpec`] and [`JobLive`]. Only
//! restart recovery turns a row back into a live [`JobEntry`] (to queue it again or end it);
//! lookups of ended jobs read their rows through [`super::view::JobView`]. It must not know
//! SQL (storage's) or HTTP.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::store::{JobEntry, JobLive, JobSpec};
use super::JobState;
use crate::clock;
use crate::engine::Engine;
use crate::storage::history::{JobRecord, JobUpdate};

/// The row for a job just accepted.
pub fn new_record(spec: &JobSpec, instance: &str) -> JobRecord {
    JobRecord {
        task_id: spec.task_id,
        exec_id: spec.exec_id.clone(),
        short_id: spec.short_id.clone(),
        instance: instance.to_string(),
        submit_user: spec.submit_user.clone(),
        execute_user: spec.execute_user.clone(),
        creator: spec.creator.clone(),
        engine: spec.engine.name().to_string(),
        engine_type: spec.engine_type.clone(),
        run_type: spec.run_type.clone(),
        code: spec.code.clone(),
        params: spec.params.to_string(),
        source: Value::Object(spec.source.clone()).to_string(),
        running_timeout_ms: spec.running_timeout.map(|d| d.as_millis() as u64),
        queuing_timeout_ms: spec.queuing_timeout.map(|d| d.as_millis() as u64),
        log_path: spec.log_path.to_string_lossy().into_owned(),
        result_dir: spec.result_dir.to_string_lossy().into_owned(),
        work_dir: spec.work_dir.to_string_lossy().into_owned(),
        status: JobState::Inited.as_str().to_string(),
        ended: false,
        progress: 0.0,
        created_ms: spec.created_at_ms,
        updated_ms: spec.created_at_ms,
        ..JobRecord::default()
    }
}

/// The update moving a job's row to `state`: the one way a status is written, so the row's
/// `ended` flag always says whether the state is final.
pub fn status_update(state: JobState) -> JobUpdate {
    JobUpdate {
        status: Some(state.as_str().to_string()),
        ended: Some(state.is_terminal()),
        updated_ms: clock::now_millis(),
        ..JobUpdate::default()
    }
}

/// The update recording a job's pause flag and its time paused so far.
pub fn pause_update(paused: bool, paused_for: Duration) -> JobUpdate {
    JobUpdate {
        paused: Some(paused),
        paused_ms: Some(paused_for.as_millis() as u64),
        updated_ms: clock::now_millis(),
        ..JobUpdate::default()
    }
}

/// The update recording everything about a job that has just ended.
pub fn final_update(live: &JobLive) -> JobUpdate {
    let stages = live.reported_stages;
    JobUpdate {
        progress: Some(1.0),
        started_ms: live.started_at_ms,
        ended_ms: live.ended_at_ms,
        exit_code: live.exit_code.map(i64::from),
        err_code: live.err_code.map(i64::from),
        err_desc: live.err_desc.clone(),
        paused: Some(false),
        paused_ms: Some(live.paused_for().as_millis() as u64),
        cpu_seconds: Some(live.resources.cpu_seconds),
        peak_memory_bytes: Some(live.resources.peak_memory_bytes),
        result_sets: Some(live.result_sets),
        stage_succeed: stages.map(|s| s.succeed),
        stage_total: stages.map(|s| s.total),
        ..status_update(live.state)
    }
}

/// A job as its row describes it, for restart recovery; `None` if the row names an engine
/// this server lacks or a state it does not know.
pub fn entry_from_record(record: &JobRecord) -> Option<JobEntry> {
    let engine = Engine::from_engine_type(&record.engine)?;
    let state = JobState::parse(&record.status)?;
    let now_ms = clock::now_millis();
    let age = Duration::from_millis(now_ms.saturating_sub(record.created_ms));
    let spec = JobSpec {
        task_id: record.task_id,
        exec_id: record.exec_id.clone(),
        short_id: record.short_id.clone(),
        submit_user: record.submit_user.clone(),
        execute_user: record.execute_user.clone(),
        creator: record.creator.clone(),
        engine,
        engine_type: record.engine_type.clone(),
        run_type: record.run_type.clone(),
        code: record.code.clone(),
        params: serde_json::from_str(&record.params).unwrap_or(Value::Object(Map::new())),
        source: serde_json::from_str(&record.source).unwrap_or_default(),
        running_timeout: record.running_timeout_ms.map(Duration::from_millis),
        queuing_timeout: record.queuing_timeout_ms.map(Duration::from_millis),
        created_at_ms: record.created_ms,
        created: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        log_path: PathBuf::from(&record.log_path),
        result_dir: PathBuf::from(&record.result_dir),
        work_dir: PathBuf::from(&record.work_dir),
    };
    let entry = JobEntry::new(spec);
    {
        let mut live = entry.live();
        live.state = state;
        live.progress = if state.is_terminal() { 1.0 } else { record.progress };
        live.paused = record.paused && !state.is_terminal();
        live.paused_before = Duration::from_millis(record.paused_ms);
        if live.paused {
            live.paused_since = Some(Instant::now());
        }
        live.started_at_ms = record.started_ms;
        live.ended_at_ms = record.ended_ms;
        live.exit_code = record.exit_code.and_then(|c| i32::try_from(c).ok());
        live.err_code = record.err_code.and_then(|c| u32::try_from(c).ok());
        live.err_desc = record.err_desc.clone();
        live.resources.cpu_seconds = record.cpu_seconds.unwrap_or(0.0);
        live.resources.peak_memory_bytes = record.peak_memory_bytes.unwrap_or(0);
        live.result_sets = record.result_sets;
        live.reported_stages = super::view::reported_stages(record);
    }
    Some(entry)
}
