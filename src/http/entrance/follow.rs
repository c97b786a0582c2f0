//! `GET {id}/log?follow=true[&fromLine=N]`: a job's whole log as plain text, then its new lines
//! as they are written, ending when the job has ended and its log is all sent (`curl -N`).
//!
//! The answer is an open-ended stream (`Response::open_ended`) read from the log file by
//! `storage::log_follow`: no handler thread waits for new lines, the poller asks the file again
//! on its sweep, and nothing holds the job store's lock (the end is asked of the job itself,
//! see `Scheduler::log_finished`). Followers are bounded by `max_log_followers`: a permit travels
//! with the answer and comes back when the connection ends, however it ends.

use std::time::Duration;

use super::super::call::{integer_param, Call};
use super::super::message::{Answer, ApiError};
use super::super::request::Request;
use super::super::response::Response;
use super::{find_job, LOG_MISSING};
use crate::storage::log_follow::LogFollow;
use crate::sync::Permit;

/// How long a refused follower is told to wait before it tries again.
const RETRY_AFTER_SECS: u64 = 5;

/// A follower's place: the permit, and its count in the `log_followers` metric, both given
/// back when the answer is dropped (written out, or its connection closed).
struct Following(#[allow(dead_code)] Permit);

impl Following {
    fn start(permit: Permit) -> Following {
        crate::metrics::get().log_followers.inc();
        Following(permit)
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        crate::metrics::get().log_followers.dec();
    }
}

/// Whether the request asks to follow: `follow=true`; absent, empty or `false` is the paged log.
pub fn wants_follow(request: &Request) -> Result<bool, ApiError> {
    match request.param("follow") {
        None => Ok(false),
        Some(text) => match text.trim().to_ascii_lowercase().as_str() {
            "" | "false" => Ok(false),
            "true" => Ok(true),
            _ => Err(ApiError::BadRequest(format!(
                "The parameter follow must be true or false, not {}",
                crate::logging::shown(&text)
            ))),
        },
    }
}

/// The streamed log, or the same refusals as the paged log endpoint (unknown job, someone
/// else's job), or a 503 when every follower permit is taken.
pub fn follow(call: Call<'_>, id: &str) -> Result<Answer, ApiError> {
    let Call { context, request, .. } = call;
    let job = find_job(call, id, LOG_MISSING)?;
    let from = match integer_param(request, "fromLine")? {
        Some(n) if n > 0 => n as u64,
        _ => 0,
    };
    let permit = context.log_followers.acquire_within(Duration::ZERO).ok_or(ApiError::Busy {
        what: "Every live log follower is in use (the server's max_log_followers setting)",
        retry_after_secs: RETRY_AFTER_SECS,
    })?;
    let permit = Following::start(permit);
    context.scheduler.make_log_file(job.task_id, &job.log_path)?;
    let finished = context.scheduler.log_finished(job.task_id);
    let source = LogFollow::open(&job.log_path, from, finished).map_err(|e| {
        if let Some(expired) = super::super::filesystem::expired_job(context, job.task_id) {
            return expired;
        }
        log::warn!("job {}: cannot follow its log: {e}", job.task_id);
        ApiError::BadRequest("Failed to get log information(获取日志信息失败)".into())
    })?;
    let response = Response::open_ended(200, Box::new(source))
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        // Proxies such as nginx buffer answers unless told not to; a follower wants each line.
        .with_header("X-Accel-Buffering", "no")
        .holding(Box::new(permit));
    Ok(Answer::Raw(response))
}
