//! `/entrance/*`: submit and execute, status, progress, log, kill, killJobs, pause, resume.
//!
//! Each handler parses, authorizes, calls the scheduler and wraps the answer; the shapes are
//! those the README lists (Linkis's §5 in `linkis-api.md`). `{id}` is an execID or a numeric taskID.
//! Handlers see jobs only as `JobView`s; they must not know how jobs are queued or run.

use serde_json::{json, Value};

use super::auth::Caller;
use super::call::{integer_param, json_body, Call, Context};
use super::message::{Answer, ApiError, Message};
use crate::job::request::{self, check_name};
use crate::job::scheduler::{KillOutcome, PauseOutcome, Settled, Submitter};
use crate::job::view::{JobView, Resources, SparkApp};
use crate::job::JobError;
use crate::storage::log_file::{self, LevelSplit};

mod follow;
mod kill_jobs;
pub use kill_jobs::kill_jobs;

/// Lines a log page holds when the client does not say.
const DEFAULT_LOG_PAGE: u64 = 100;
/// Lines a log page holds when the client asks for "all" with a negative size, as Linkis does.
const NEGATIVE_SIZE_PAGE: u64 = 10_000;

/// `POST submit` and `POST execute`: both dialects share one parser.
pub fn submit(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, caller, method } = call;
    let body = json_body(request)?;
    let job = request::parse(&body, &context.config.requests)?;
    let execute_user = match &job.execute_user {
        Some(user) if user != &caller.user && caller.may_submit_for(user) => {
            check_name("executeUser", user)?;
            user.clone()
        }
        _ => caller.user.clone(),
    };
    if let Some(label_user) = &job.label_user {
        if !label_user.eq_ignore_ascii_case(&execute_user) {
            return Err(JobError::invalid(
                50080,
                format!(
                    "SubmitUser : {} must be the same as ExecuteUser : {execute_user} , and user : {label_user} in userCreatorLabel.",
                    caller.user
                ),
            )
            .into());
        }
    }
    let job = context
        .scheduler
        .submit(job, Submitter { submit_user: &caller.user, execute_user: &execute_user, admin: caller.admin })?;
    Ok(Message::ok(method, json!({"execID": job.exec_id, "taskID": job.task_id})))
}

/// Finds the job named by `id` (or by the `taskID` query parameter as a fallback) and checks
/// the caller may see it. `missing` is the endpoint's Linkis text for an unknown job.
fn find_job(call: Call<'_>, id: &str, missing: &str) -> Result<JobView, ApiError> {
    let job = lookup(call, id, missing)?;
    if !may_control(call.caller, &job) {
        return Err(ApiError::Forbidden(format!(
            "You have no permission to access the job {id}(您没有权限访问该任务)"
        )));
    }
    Ok(job)
}

/// The job named by `id`, or by the `taskID` query parameter as a fallback; no access check.
fn lookup(call: Call<'_>, id: &str, missing: &str) -> Result<JobView, ApiError> {
    let Call { context, request, .. } = call;
    context
        .scheduler
        .view(id)
        .or_else(|| request.param("taskID").and_then(|task| context.scheduler.view(task.trim())))
        .ok_or_else(|| ApiError::JobNotFound(format!("{missing} (no job has the id {id:?})")))
}

/// `GET {id}/status`
pub fn status(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    let Call { method, .. } = call;
    let job = find_job(call, id, "ID The corresponding job is empty and cannot obtain the corresponding task status.(ID 对应的job为空，不能获取相应的任务状态)",
    )?;
    let mut data = json!({
        "status": job.state.as_str(),
        "execID": job.exec_id,
        "taskID": job.task_id,
        "paused": job.paused,
        "pausedMillis": job.paused_for.as_millis() as u64,
    });
    if let Some(position) = job.queue_position {
        data["queuePosition"] = json!(position);
    }
    if let Some(code) = job.exit_code {
        data["exitCode"] = json!(code);
    }
    Ok(Message::ok(method, data))
}

/// `GET {id}/progress` and `GET {id}/progressWithResource`
pub fn progress(call: Call<'_>, id: &str, with_resource: bool) -> Result<Message, ApiError> {
    let Call { method, .. } = call;
    let job = find_job(call, id, "The job corresponding to the ID is empty, and the corresponding task progress cannot be obtained.(ID 对应的job为空，不能获取相应的任务进度)",
    )?;
    // Resource figures are the worker's, sampled once a second; the first view of a running
    // job the worker has not sampled yet takes one (`JobEntry::live_sampled`), once.
    let progress_info: Vec<Value> = job
        .stages
        .map(|s| {
            json!({
                "id": job.task_id.to_string(),
                "succeedTasks": s.succeed,
                "failedTasks": s.failed,
                "runningTasks": s.running,
                "totalTasks": s.total,
            })
        })
        .into_iter()
        .collect();
    let mut data = json!({
        "progress": job.progress,
        "execID": job.exec_id,
        "taskID": job.task_id,
        "progressInfo": progress_info,
        "paused": job.paused,
        "pausedMillis": job.paused_for.as_millis() as u64,
    });
    if with_resource {
        match &job.spark {
            Some(app) => data["yarnMetrics"] = yarn_metrics(app, job.state.as_str()),
            None => data["yarnResource"] = Value::Null,
        }
        data["resource"] = resource_json(&job.resources);
    }
    Ok(Message::ok(method, data))
}

/// Linkis's `yarnMetrics` for a Spark job: its executors as the driver reports them, against
/// Linkis's default queue ceilings (300 cores, 1000 GiB) for the percentages and colours.
fn yarn_metrics(app: &SparkApp, status: &str) -> Value {
    const CORES: f64 = 300.0;
    const MEMORY: f64 = 1000.0 * 1024.0 * 1024.0 * 1024.0;
    let colour = |share: f64| match share {
        s if s <= 0.5 => "green",
        s if s <= 0.7 => "yellow",
        _ => "red",
    };
    let executors = app.executors;
    let (core_share, memory_share) = (executors.cores as f64 / CORES, executors.memory_bytes as f64 / MEMORY);
    json!({
        "yarnResource": [{
            "applicationId": app.app_id,
            "queueMemory": executors.memory_bytes,
            "queueCores": executors.cores,
            "queueInstances": executors.instances,
            "jobStatus": status.to_ascii_uppercase(),
            "queue": app.master,
        }],
        "corePercent": core_share,
        "memoryPercent": memory_share,
        "coreRGB": colour(core_share),
        "memoryRGB": colour(memory_share),
        "sparkUi": app.ui,
    })
}

fn resource_json(resources: &Resources) -> Value {
    json!({
        "cpuSeconds": (resources.cpu_seconds * 1000.0).round() / 1000.0,
        "memoryBytes": resources.memory_bytes,
        "peakMemoryBytes": resources.peak_memory_bytes,
        "processes": resources.processes,
    })
}

/// Linkis's text for a log asked of an unknown job.
const LOG_MISSING: &str = "Can't find execID(不能找到execID) Corresponding job, can not get the corresponding log(对应的job，不能获得对应的日志)";

/// `GET {id}/log`: the paged log in the envelope, or with `follow=true` the live stream.
pub fn log_or_follow(call: Call<'_>, id: &str) -> Result<Answer, ApiError> {
    if follow::wants_follow(call.request)? {
        follow::follow(call, id)
    } else {
        log(call, id).map(Answer::from)
    }
}

/// `GET {id}/log?fromLine=&size=&distinctLevel=`
pub fn log(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    let job = find_job(call, id, LOG_MISSING)?;
    let from = match integer_param(request, "fromLine")? {
        Some(n) if n > 0 => n as u64,
        _ => 0,
    };
    let size = match integer_param(request, "size")? {
        None => DEFAULT_LOG_PAGE,
        Some(n) if n < 0 => NEGATIVE_SIZE_PAGE,
        Some(n) => n as u64,
    };
    let distinct = !request.param("distinctLevel").is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    let permit = context.large_answer()?;
    context.scheduler.make_log_file(job.task_id, &job.log_path)?;
    let page = log_file::read_page(&job.log_path, from, size).map_err(|e| {
        if let Some(expired) = super::filesystem::expired_job(context, job.task_id) {
            return expired;
        }
        log::warn!("job {}: cannot read its log: {e}", job.task_id);
        ApiError::BadRequest("Failed to get log information(获取日志信息失败)".into())
    })?;
    let log =
        if distinct { json!(LevelSplit::of(&page.lines, false).into_array()) } else { json!(page.lines.join("\n")) };
    Ok(Message::ok(method, json!({"log": log, "fromLine": page.next_from, "execID": job.exec_id}))
        .holding(Box::new(permit)))
}

/// `GET|POST {id}/kill[?taskID=]`
pub fn kill(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    // Kill answers a refusal in Linkis's own words (kill_one), so no access check here.
    let job = lookup(call, id, "Get job by ID error, kill failed.(获取job时发生异常，kill失败)")?;
    kill_one(call.context, call.caller, &job, call.method)
}

/// Owners (the executing or the submitting user) and admins may see and control a job.
fn may_control(caller: &Caller, job: &JobView) -> bool {
    caller.may_access(&job.execute_user) || caller.may_access(&job.submit_user)
}

fn kill_one(context: &Context, caller: &Caller, job: &JobView, method: &str) -> Result<Message, ApiError> {
    if !may_control(caller, job) {
        return Err(ApiError::Refused(format!(
            "You have no permission to kill this job, excecute by user:{}",
            job.execute_user
        )));
    }
    let settled = context.scheduler.kill(job, &caller.user);
    let message = match settled.outcome {
        KillOutcome::Signalled | KillOutcome::Dequeued => "Successfully killed the job(成功kill了job)".to_string(),
        KillOutcome::AlreadyEnding => {
            "The job is already ending (its process has exited, or it is being ended); nothing was killed.".to_string()
        }
        KillOutcome::AlreadyEnded(state) => {
            format!("The job already completed with status {state}; nothing was killed.(任务已经结束，不支持kill)")
        }
    };
    Ok(Message::ok(method, json!({"execID": job.exec_id, "taskID": job.task_id, "status": settled.state.as_str()}))
        .with_message(message))
}

/// `GET {id}/pause`: really stops the job (SIGSTOP), or holds it in the queue.
pub fn pause(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    let Call { context, caller, method, .. } = call;
    let job = find_job(
        call,
        id,
        &format!("can not find the job of exexID :{id} can not pause (不能找到execID: {id}对应的job，不能进行pause)"),
    )?;
    let outcome = context.scheduler.pause(&job, &caller.user);
    Ok(pause_answer(&job, &outcome, method, true))
}

/// `GET {id}/resume`: continues a paused job (SIGCONT) or releases it to the queue.
pub fn resume(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    let Call { context, caller, method, .. } = call;
    let job = find_job(call, id, &format!("can not find the job of execID :{id} can not resume"))?;
    let outcome = context.scheduler.resume(&job, &caller.user);
    Ok(pause_answer(&job, &outcome, method, false))
}

/// The answer to pause (`pausing`) or resume. Like Linkis's pause, a job that is found is
/// answered with success even when there was nothing to do; the message says which.
fn pause_answer(job: &JobView, settled: &Settled<PauseOutcome>, method: &str, pausing: bool) -> Message {
    let (state, paused) = (settled.state, settled.paused);
    let message = match (&settled.outcome, pausing) {
        (PauseOutcome::AlreadyEnded(state), true) => {
            format!("The job already completed with status {state}; nothing to pause.")
        }
        (PauseOutcome::AlreadyEnded(state), false) => {
            format!("The job already completed with status {state}; nothing to resume.")
        }
        (PauseOutcome::Unchanged, true) => "Nothing to do: the job is already paused, or being killed.".to_string(),
        (PauseOutcome::Unchanged, false) => "Nothing to do: the job is not paused.".to_string(),
        (PauseOutcome::Queued, true) => {
            "success to pause job (成功pause了job): it stays in the queue until resumed".to_string()
        }
        (PauseOutcome::Queued, false) => "success to resume job: it is back in the queue".to_string(),
        (PauseOutcome::Signalled, true) => "success to pause job (成功pause了job)".to_string(),
        (PauseOutcome::Signalled, false) => "success to resume job".to_string(),
    };
    Message::ok(
        method,
        json!({"execID": job.exec_id, "taskID": job.task_id, "status": state.as_str(), "paused": paused}),
    )
    .with_message(message)
}
