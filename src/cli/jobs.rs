//! The commands about one existing job: `status`, `log`, `kill`, `pause`, `resume`, `wait` and
//! `result`. Each takes a taskID or an execID; an execID is turned into its taskID once, by
//! the status endpoint, which accepts either.

use std::process::ExitCode;

use serde_json::Value;

use super::api::{number, Api};
use super::args::{LogArgs, Output, WaitArgs};
use super::error::{CliError, JobEnd};
use super::follow;
use super::results;
use super::screen::Screen;

/// The taskID of the job `id` names (digits are a taskID; anything else an execID).
pub fn task_id(api: &Api, id: &str) -> Result<u64, CliError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return id.parse().map_err(|_| CliError::Usage(format!("{id} is not a taskID")));
    }
    let path = format!("entrance/{}/status", encode(id));
    let data = api.get(&path, &[])?;
    number(&data, &path, "/taskID")
}

/// Percent-encodes one path segment (an execID holds `:` and `.`).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `portico status ID`: one `name: value` line per fact.
pub fn status(api: &Api, id: &str) -> Result<ExitCode, CliError> {
    let task_id = task_id(api, id)?;
    let (state, data) = follow::status(api, task_id)?;
    let progress = api.get(&format!("entrance/{task_id}/progress"), &[])?;
    let fraction = progress.get("progress").and_then(|p| p.as_f64().or_else(|| p.as_str()?.parse().ok()));
    let task = record(api, task_id)?;
    let field = |key: &str| task.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    println!("taskID:    {task_id}");
    println!("execID:    {}", data.get("execID").and_then(Value::as_str).unwrap_or(""));
    let paused = if data.get("paused").and_then(Value::as_bool) == Some(true) { " (paused)" } else { "" };
    println!("status:    {state}{paused}");
    println!("engine:    {} ({})", field("executeApplicationName"), field("runType"));
    println!("user:      {}", field("executeUser"));
    if let Some(created) = task.get("createdTime").and_then(Value::as_i64) {
        println!("created:   {}", super::history::local_time(created));
    }
    if let Some(cost) = task.get("costTime").and_then(Value::as_u64) {
        println!("duration:  {}", super::history::duration(cost));
    }
    if let Some(fraction) = fraction {
        println!("progress:  {:.0}%", fraction * 100.0);
    }
    if let Some(position) = data.get("queuePosition").and_then(Value::as_u64) {
        println!("queue:     position {position}");
    }
    if let Some(code) = data.get("exitCode").filter(|c| !c.is_null()) {
        println!("exit code: {code}");
    }
    if let Some(error) = task.get("errDesc").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        println!("error:     {error}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `portico log ID [--follow]`: the log on stdout.
pub fn log(api: &Api, args: &LogArgs) -> Result<ExitCode, CliError> {
    let task_id = task_id(api, &args.id)?;
    let screen = Screen::new(true, true, false);
    if args.follow {
        follow::follow(api, task_id, &screen)?;
    } else {
        let mut next = 1;
        while follow::page(api, task_id, &screen, &mut next)? {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `portico kill|pause|resume ID`: asks, and prints what the server says the job is now.
pub fn control(api: &Api, id: &str, verb: &str) -> Result<ExitCode, CliError> {
    let task_id = task_id(api, id)?;
    let data = api.get(&format!("entrance/{task_id}/{verb}"), &[])?;
    let state = data.get("status").and_then(Value::as_str).unwrap_or("?");
    let paused = if data.get("paused").and_then(Value::as_bool) == Some(true) { ", paused" } else { "" };
    // The server answers a control of an ended job with its final state: say nothing was done.
    let ended_before = matches!(state, "Succeed" | "Failed" | "Timeout") || (state == "Cancelled" && verb != "kill");
    if ended_before {
        println!("job {task_id} had already ended ({state}): nothing to {verb}");
    } else {
        println!("job {task_id}: {verb} done; status {state}{paused}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `portico wait ID`: blocks until the job ends; the exit code says how.
pub fn wait(api: &Api, args: &WaitArgs) -> Result<ExitCode, CliError> {
    let task_id = task_id(api, &args.id)?;
    let screen = Screen::new(args.log, false, true);
    let end = follow::follow(api, task_id, &screen)?;
    screen.clear();
    eprintln!("portico: job {task_id} {end:?}");
    Ok(end.exit_code())
}

/// `portico result ID`: the result sets of an ended job.
pub fn result(api: &Api, id: &str, output: Output) -> Result<ExitCode, CliError> {
    let task_id = task_id(api, id)?;
    let task = record(api, task_id)?;
    let state = task.get("status").and_then(Value::as_str).unwrap_or("?");
    if JobEnd::from_state(state).is_none() {
        return Err(CliError::Usage(format!(
            "job {task_id} is {state}: its results come when it ends (portico wait {task_id})"
        )));
    }
    results::print(api, &task, output)?;
    Ok(ExitCode::SUCCESS)
}

/// The job's history record (`jobhistory/{taskID}/get`'s `task`).
pub fn record(api: &Api, task_id: u64) -> Result<Value, CliError> {
    let path = format!("jobhistory/{task_id}/get");
    let data = api.get(&path, &[])?;
    Ok(super::api::field(&data, &path, "/task")?.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_ids_are_encoded_as_one_path_segment() {
        assert_eq!(
            super::encode("exec_id018014linkis-cg-entrance127.0.0.1:9001IDE_a_shell_1"),
            "exec_id018014linkis-cg-entrance127.0.0.1%3A9001IDE_a_shell_1"
        );
        assert_eq!(super::encode("a/b c"), "a%2Fb%20c");
    }
}
