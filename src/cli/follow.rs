//! Following a job until it ends: its log as it is written and, on a terminal, its progress.
//! A server that streams the log (`entrance/{id}/log?follow=true` answering `text/plain`) is
//! read line by line, and the stream's end is the job's end. Otherwise (an older server, or
//! one whose followers are all taken) the log is paged through `fromLine` and the status is
//! polled, backing off from 50 ms to 1 s while nothing changes.

use std::io::{BufRead, ErrorKind};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::api::{number, text, Api, LogFollow};
use super::error::{CliError, JobEnd};
use super::screen::Screen;

/// How long the poll waits at first, and at most, when nothing has changed.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// How often the bar is redrawn while the log streams.
const REDRAW: Duration = Duration::from_millis(500);
/// Log lines asked for per page when polling.
const PAGE: &str = "1000";

/// Shows job `task_id`'s log from its first line until the job ends; returns how it ended.
pub fn follow(api: &Api, task_id: u64, screen: &Screen) -> Result<JobEnd, CliError> {
    let mut next = 1;
    if let LogFollow::Stream(reader) = api.follow_log(task_id, next)? {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            if screen.wants_progress() {
                scope.spawn(move || loop {
                    let _ = status(api, task_id).and_then(|(_, data)| draw_progress(api, task_id, screen, &data));
                    if stopped.recv_timeout(REDRAW) != Err(mpsc::RecvTimeoutError::Timeout) {
                        return;
                    }
                });
            }
            next = read_stream(reader, screen, next);
            drop(stop);
        });
        // The stream ends with the job, or early if the connection broke: then poll the rest.
        if let Some(end) = ended(api, task_id, screen, &mut next, &status(api, task_id)?.0)? {
            return Ok(end);
        }
    }
    poll(api, task_id, screen, next)
}

/// Shows the streamed lines; returns the number of the next line not yet seen.
fn read_stream(mut reader: Box<dyn BufRead + Send>, screen: &Screen, mut next: u64) -> u64 {
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) => return next,
            Ok(_) if buffer.ends_with(b"\n") => {
                buffer.pop();
                screen.line(&String::from_utf8_lossy(&buffer));
                next += 1;
            }
            // A last line without its newline: the stream was cut; polling reads it again.
            Ok(_) => return next,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return next,
        }
    }
}

/// Pages the log and polls the status until the job ends.
fn poll(api: &Api, task_id: u64, screen: &Screen, mut next: u64) -> Result<JobEnd, CliError> {
    let mut pause = FIRST_PAUSE;
    loop {
        if page(api, task_id, screen, &mut next)? {
            pause = FIRST_PAUSE;
            continue;
        }
        let (state, data) = status(api, task_id)?;
        if let Some(end) = ended(api, task_id, screen, &mut next, &state)? {
            return Ok(end);
        }
        if screen.wants_progress() {
            draw_progress(api, task_id, screen, &data)?;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// How the job ended, once `state` says it has, with the rest of its log shown first.
fn ended(api: &Api, task_id: u64, screen: &Screen, next: &mut u64, state: &str) -> Result<Option<JobEnd>, CliError> {
    let Some(end) = JobEnd::from_state(state) else { return Ok(None) };
    while page(api, task_id, screen, next)? {}
    Ok(Some(end))
}

/// Shows the log lines from `next` on, one page; false when there were none.
pub fn page(api: &Api, task_id: u64, screen: &Screen, next: &mut u64) -> Result<bool, CliError> {
    let path = format!("entrance/{task_id}/log");
    let from = next.to_string();
    let data = api.get(&path, &[("fromLine", &from), ("size", PAGE)])?;
    let returned = number(&data, &path, "/fromLine")?;
    if returned <= *next {
        return Ok(false);
    }
    let lines = data.pointer("/log/3").and_then(Value::as_str).unwrap_or_default();
    for line in lines.split('\n') {
        screen.line(line);
    }
    *next = returned;
    Ok(true)
}

/// The job's state name and the whole `data` of its status.
pub fn status(api: &Api, task_id: u64) -> Result<(String, Value), CliError> {
    let path = format!("entrance/{task_id}/status");
    let data = api.get(&path, &[])?;
    Ok((text(&data, &path, "/status")?.to_string(), data))
}

/// Redraws the bar from the job's status and its progress.
fn draw_progress(api: &Api, task_id: u64, screen: &Screen, status_data: &Value) -> Result<(), CliError> {
    let state = status_data.get("status").and_then(Value::as_str).unwrap_or("?");
    let mut note = String::new();
    if let Some(position) = status_data.get("queuePosition").and_then(Value::as_u64) {
        note = format!("queue position {position}");
    }
    if status_data.get("paused").and_then(Value::as_bool) == Some(true) {
        note = "paused".to_string();
    }
    let progress = api.get(&format!("entrance/{task_id}/progress"), &[])?;
    let fraction = progress
        .get("progress")
        .and_then(|p| p.as_f64().or_else(|| p.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(0.0);
    screen.progress(state, fraction, &note);
    Ok(())
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
