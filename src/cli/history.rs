//! `portico history`: a page of `jobhistory/list` as a table, newest first, in the manner of
//! `pueue status`.

use std::process::ExitCode;

use serde_json::Value;

use super::api::Api;
use super::args::HistoryArgs;
use super::error::CliError;
use super::render::Aligned;

pub fn history(api: &Api, args: &HistoryArgs) -> Result<ExitCode, CliError> {
    let (page, size) = (args.page.max(1).to_string(), args.limit.clamp(1, 1000).to_string());
    let mut query: Vec<(&str, &str)> = vec![("pageNow", &page), ("pageSize", &size)];
    if let Some(status) = &args.status {
        query.push(("status", status));
    }
    if let Some(engine) = &args.engine {
        query.push(("executeApplicationName", engine));
    }
    if args.all || args.owner.is_some() {
        query.push(("isAdminView", "true"));
    }
    if let Some(owner) = &args.owner {
        query.push(("proxyUser", owner));
    }
    let data = api.get("jobhistory/list", &query)?;
    let tasks = data.get("tasks").and_then(Value::as_array).cloned().unwrap_or_default();
    let total = data.get("totalPage").and_then(Value::as_u64).unwrap_or(tasks.len() as u64);
    let header: Vec<String> = ["id", "state", "engine", "user", "created", "duration"].map(String::from).to_vec();
    let rows: Vec<Vec<Option<String>>> = tasks.iter().map(row).collect();
    let (aligned, head) = Aligned::new(&header, &rows);
    print!("{head}{}", aligned.rows(&rows));
    let first = (args.page.max(1) as u64 - 1) * args.limit.clamp(1, 1000) as u64;
    if total > first + rows.len() as u64 {
        eprintln!("{} of {total} jobs; --page {} for more", rows.len(), args.page.max(1) + 1);
    }
    Ok(ExitCode::SUCCESS)
}

fn row(task: &Value) -> Vec<Option<String>> {
    let text = |key: &str| task.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let id = task.get("taskID").map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
    let state = match text("status").as_str() {
        "Running" | "Inited" if task.get("paused").and_then(Value::as_bool) == Some(true) => {
            format!("{} (paused)", text("status"))
        }
        _ => text("status"),
    };
    let engine = Some(text("executeApplicationName")).filter(|e| !e.is_empty()).unwrap_or_else(|| text("engineType"));
    let created = task.get("createdTime").and_then(Value::as_i64).map(local_time).unwrap_or_default();
    let duration = task.get("costTime").and_then(Value::as_u64).map(duration).unwrap_or_default();
    [id, state, engine, text("executeUser"), created, duration].into_iter().map(Some).collect()
}

/// Epoch milliseconds as local `YYYY-MM-DD HH:MM:SS`.
pub fn local_time(millis: i64) -> String {
    let secs = (millis / 1000) as libc::time_t;
    // SAFETY: a zeroed tm is a valid out-parameter; localtime_r is the thread-safe form.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return millis.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Milliseconds as `850ms`, `12.3s`, `4m05s` or `2h03m`.
pub fn duration(millis: u64) -> String {
    let secs = millis / 1000;
    match secs {
        0 => format!("{millis}ms"),
        1..60 => format!("{:.1}s", millis as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_380_000), "2h03m");
    }

    #[test]
    fn a_row_names_the_job_its_state_engine_and_user() {
        let task = serde_json::json!({"taskID": 7, "status": "Failed", "executeApplicationName": "shell",
            "executeUser": "alice", "costTime": 1500});
        let row = row(&task);
        assert_eq!(row[..4], [Some("7".into()), Some("Failed".into()), Some("shell".into()), Some("alice".into())]);
        assert_eq!(row[5].as_deref(), Some("1.5s"));
    }
}
