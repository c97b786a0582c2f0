//! `POST killJobs` (also `{id}/killJobs`, where the path's id only routes, as in Linkis): many
//! kills in one request, `{idList: [execID…], taskIDList: [taskID…]}`, answered job by job.
//!
//! Every element is checked before any job is touched, so a malformed list kills nothing and
//! its refusal names the element to fix. A well-formed id of no job, or a job the caller may
//! not kill, gets its own refusal among the answers, as Linkis answers them.

use serde_json::{json, Map, Value};

use super::kill_one;
use crate::http::call::{json_body, Call};
use crate::http::message::{ApiError, Message};
use crate::job::view::JobView;
use crate::job::{task_id_of, JobState};
use crate::logging::shown;

/// Linkis's words for lists that are not lists.
const USE_ARRAYS: &str = "Request parameter error, please use array(请求参数错误，请使用数组)";

/// `POST killJobs` with `{idList, taskIDList}` (either list, or both of the same length): one
/// message per job.
pub fn kill_jobs(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, caller, method } = call;
    let Value::Object(body) = json_body::<Value>(request)? else {
        return Err(bad(format!("{USE_ARRAYS}: the body must be an object holding idList and taskIDList")));
    };
    let (ids, task_ids) = (list(&body, "idList")?, list(&body, "taskIDList")?);
    if ids.is_none() && task_ids.is_none() {
        return Err(bad(
            "Name the jobs to kill in idList (execIDs) or taskIDList (taskIDs); the body has neither".into()
        ));
    }
    let exec_ids = ids.unwrap_or_default().iter().enumerate().map(exec_id_at).collect::<Result<Vec<_>, _>>()?;
    let task_ids = task_ids.unwrap_or_default().iter().enumerate().map(task_id_at).collect::<Result<Vec<_>, _>>()?;
    if !exec_ids.is_empty() && !task_ids.is_empty() && exec_ids.len() != task_ids.len() {
        return Err(bad(
            "The length of the ID list does not match the length of the TASKID list(id列表的长度与taskId列表的长度不一致)".into(),
        ));
    }
    let count = exec_ids.len().max(task_ids.len());
    let jobs: Vec<(String, Option<JobView>)> = (0..count)
        .map(|i| {
            let (exec_id, task_id) = (exec_ids.get(i), task_ids.get(i).map(u64::to_string));
            let name = exec_id.cloned().or(task_id.clone()).unwrap_or_default();
            let found = exec_id
                .and_then(|id| context.scheduler.view(id))
                .or_else(|| task_id.and_then(|id| context.scheduler.view(&id)));
            (name, found)
        })
        .collect();
    // The queued jobs first: killed after a running one, a queued job could be started by the
    // very worker that killing the running one set free, before its own kill came.
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| !jobs[i].1.as_ref().is_some_and(|job| job.state == JobState::Inited));
    let mut messages = vec![Value::Null; count];
    for i in order {
        let (name, found) = &jobs[i];
        let job_method = format!("/api/entrance/{name}/kill");
        let answer = match found {
            Some(job) => kill_one(context, caller, job, &job_method),
            None => Err(ApiError::JobNotFound(format!(
                "Can't find the job {name:?}, kill failed.(不能找到对应的job，kill失败)"
            ))),
        };
        let message = answer.unwrap_or_else(|e| e.into_message(&job_method));
        messages[i] = json!({"method": message.method, "status": message.status, "message": message.message, "data": message.data});
    }
    Ok(Message::ok(method, json!({"messages": messages})).with_message("success"))
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// The list under `key`: `None` when absent or null; anything but an array is refused.
fn list<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a [Value]>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.as_slice())),
        Some(other) => Err(bad(format!("{USE_ARRAYS}: {key} must be an array, not {}", shown(&other.to_string())))),
    }
}

/// `idList[i]`: an execID, so a string that is not blank.
fn exec_id_at((i, value): (usize, &Value)) -> Result<String, ApiError> {
    match value {
        Value::String(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        other => Err(bad(format!("idList[{i}] must be an execID (a string), not {}", shown(&other.to_string())))),
    }
}

/// `taskIDList[i]`: a taskID, a whole number from 1, or such a number as text.
fn task_id_at((i, value): (usize, &Value)) -> Result<u64, ApiError> {
    let task_id = match value {
        Value::Number(n) => n.as_u64().filter(|n| *n <= i64::MAX as u64),
        Value::String(text) => task_id_of(text.trim()),
        _ => None,
    };
    task_id.filter(|n| *n >= 1).ok_or_else(|| {
        bad(format!("taskIDList[{i}] must be a taskID (a whole number from 1), not {}", shown(&value.to_string())))
    })
}
