//! `/jobhistory/*`: one job's record, and the caller's job list with filters and paging.
//!
//! Answered from the history database, so jobs from before a restart are there too; the job
//! service overlays the live status and progress of a job still in memory on its row.

use serde_json::{json, Value};

use super::auth::Caller;
use super::call::{integer_param, Call};
use super::message::{ApiError, Message};
use crate::clock;
use crate::job::request::check_name;
use crate::job::{task_id_of, JobState};
use crate::storage::history::{JobRecord, ListFilter};

const NOT_FOUND: &str =
    "The corresponding job was not found, or there may be no permission to view the job(没有找到对应的job，也可能是没有查看该job的权限)";
/// Rows a list page holds when the client does not say, and the most it may ask for.
const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 1000;

fn may_see(caller: &Caller, record: &JobRecord) -> bool {
    caller.admin || caller.user == record.submit_user || caller.user == record.execute_user
}

/// `GET jobhistory/{taskID}/get`
pub fn get(call: Call<'_>, id: &str) -> Result<Message, ApiError> {
    let Call { context, caller, method, .. } = call;
    let task_id = task_id_of(id)
        .ok_or_else(|| ApiError::BadRequest(format!("{NOT_FOUND} (taskID {id:?} is not a job's number)")))?;
    let record = context
        .scheduler
        .history_record(task_id)?
        .filter(|record| may_see(caller, record))
        .ok_or_else(|| ApiError::BadRequest(NOT_FOUND.into()))?;
    Ok(Message::ok(method, json!({"task": task_vo(&record, Text::Whole)})))
}

/// `GET jobhistory/list?startDate=&endDate=&status=&pageNow=&pageSize=&taskID=&executeApplicationName=&creator=&runType=&proxyUser=&isAdminView=`
pub fn list(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, caller, method } = call;
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        integer_param(request, name)?
            .map(|n| {
                u64::try_from(n).map_err(|_| ApiError::BadRequest(format!("The parameter {name} must not be negative")))
            })
            .transpose()
    };
    let name = |param: &str| -> Result<Option<String>, ApiError> {
        match request.param(param).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(value) => {
                check_name(param, value.trim())?;
                Ok(Some(value.trim().to_string()))
            }
        }
    };
    let start_ms = number("startDate")?.unwrap_or(0);
    let mut end_ms = number("endDate")?.unwrap_or_else(|| clock::now_millis() + 1);
    if end_ms == start_ms {
        end_ms = end_ms.saturating_add(clock::DAY_MS).min(i64::MAX as u64);
    }
    let statuses: Vec<String> = request
        .param("status")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            JobState::parse(s)
                .map(|st| st.as_str().to_string())
                .ok_or_else(|| ApiError::BadRequest(format!("Unknown status {s:?}")))
        })
        .collect::<Result<_, _>>()?;
    let admin_view = caller.admin && request.param("isAdminView").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let proxy_user = name("proxyUser")?;
    let user = match (caller.admin, proxy_user) {
        (true, Some(proxy)) => Some(proxy),
        (true, None) if admin_view => None,
        _ => Some(caller.user.clone()),
    };
    let page_size = number("pageSize")?.filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size > MAX_PAGE_SIZE {
        return Err(ApiError::BadRequest(format!("pageSize may be at most {MAX_PAGE_SIZE}")));
    }
    let filter = ListFilter {
        user,
        start_ms,
        end_ms,
        statuses,
        task_id: number("taskID")?,
        engine: name("executeApplicationName")?,
        creator: name("creator")?,
        run_type: name("runType")?,
        page: number("pageNow")?.filter(|n| *n > 0).unwrap_or(1),
        page_size,
    };
    let (records, total) = context.scheduler.history_list(&filter)?;
    let tasks: Vec<Value> = records.iter().map(|record| task_vo(record, Text::Preview)).collect();
    Ok(Message::ok(method, json!({"tasks": tasks, "totalPage": total})))
}

/// Characters of a job's code and error text a list page carries; `{taskID}/get` has them whole.
pub const PREVIEW_CHARS: usize = 2000;

/// Whether long texts (code, error) are given whole or as a bounded preview.
#[derive(Clone, Copy)]
enum Text {
    Whole,
    Preview,
}

impl Text {
    fn of(self, text: &str) -> String {
        match self {
            Text::Whole => text.to_string(),
            Text::Preview => match text.char_indices().nth(PREVIEW_CHARS) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text.to_string(),
            },
        }
    }
}

/// The Linkis `QueryTaskVO` of a row.
fn task_vo(record: &JobRecord, text: Text) -> Value {
    let (status, progress) = (&record.status, record.progress);
    let running = !JobState::parse(status).is_some_and(JobState::is_terminal);
    let now = clock::now_millis();
    let end = record.ended_ms.unwrap_or(now);
    let labels = [
        format!("engineType:{}", record.engine_type),
        format!("codeType:{}", record.run_type),
        format!("userCreator:{}-{}", record.execute_user, record.creator),
    ];
    let metrics = json!({
        "exitCode": record.exit_code,
        "cpuSeconds": record.cpu_seconds,
        "peakMemoryBytes": record.peak_memory_bytes,
        "pausedMillis": record.paused_ms,
        "resultSets": record.result_sets,
        "filesRemovedTime": record.files_removed_ms,
    });
    json!({
        "taskID": record.task_id,
        "instance": record.instance,
        "execId": record.short_id,
        "umUser": record.submit_user,
        "submitUser": record.submit_user,
        "executeUser": record.execute_user,
        "engineInstance": null,
        "executionCode": text.of(&record.code),
        "progress": format!("{progress:?}"),
        "logPath": format!("file://{}", record.log_path),
        "resultLocation": format!("file://{}", record.result_dir),
        "status": status,
        "createdTime": record.created_ms,
        "updatedTime": record.updated_ms,
        "engineType": record.engine,
        "errCode": if running { None } else { record.err_code },
        "errDesc": if running { None } else { record.err_desc.as_deref().map(|e| text.of(e)) },
        "executeApplicationName": record.engine,
        "requestApplicationName": record.creator,
        "runType": record.run_type,
        "paramsJson": record.params,
        "costTime": end.saturating_sub(record.created_ms),
        "strongerExecId": record.exec_id,
        "sourceJson": record.source,
        "sourceTailor": "",
        "engineStartTime": record.started_ms,
        "labels": labels,
        "canRetry": false,
        "observeInfo": null,
        "isReuse": false,
        "requestStartTime": record.created_ms,
        "requestEndTime": record.ended_ms,
        "requestSpendTime": end.saturating_sub(record.created_ms),
        "metrics": metrics.to_string(),
        "engineLogPath": null,
        "ecmInstance": null,
        "ticketId": null,
        "subJobs": null,
    })
}
