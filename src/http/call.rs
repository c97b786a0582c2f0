//! What every handler gets and the helpers they share: the [`Context`], the [`Call`], typed
//! JSON bodies and query parameters.
//!
//! Handlers import from here, never from `http/mod.rs`, so the pipeline can change without
//! them. Bodies are parsed straight into the handler's own types (serde derive), after a scan
//! that refuses nesting deeper than `json_depth::MAX_DEPTH` (32) levels, so no body can make
//! the parser, or anything that later walks what it built, recurse deeply.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::auth::Caller;
use super::json_depth;
use super::message::ApiError;
use super::request::Request;
use crate::accounts::Accounts;
use crate::config::Config;
use crate::data_dir::Layout;
use crate::job::scheduler::Scheduler;
use crate::logging::Limiter;
use crate::sync::{Permit, Semaphore};

/// How long a request waits for a turn to build a large answer before it is told to retry:
/// short, because it waits on a handler thread, and a few clients holding every turn (slow
/// downloads) must not make every other request queue behind those waiting.
const LARGE_ANSWER_PATIENCE: Duration = Duration::from_millis(100);

/// What handlers need: the settings, the job service, the credential store, and the shared
/// limits on what requests may cost together.
pub struct Context {
    pub config: Config,
    pub scheduler: Scheduler,
    pub accounts: Accounts,
    /// Large answers (log pages, openFile pages, openLog) being built or written at once.
    pub large_answers: Semaphore,
    /// Downloads being built or streamed at once: a pool of their own, so that slow
    /// downloaders cannot take every turn the pages need, nor the other way round.
    pub downloads: Semaphore,
    /// Clients following a log live (`log?follow=true`): a permit travels with each answer
    /// until the connection ends, however it ends.
    pub log_followers: Semaphore,
    /// Lines about failed authentication: a flood of bad tokens writes a few, and a count.
    pub auth_failures_logged: Limiter,
    /// Where things are in the data directory (the filesystem endpoints check paths against it).
    pub layout: Layout,
}

impl Context {
    pub fn new(config: Config, scheduler: Scheduler, accounts: Accounts) -> Context {
        let large = config.max_large_answers;
        let layout = Layout::new(&config.data_dir);
        let log_followers = Semaphore::new(config.max_log_followers);
        Context {
            config,
            scheduler,
            accounts,
            large_answers: Semaphore::new(large),
            downloads: Semaphore::new(large),
            log_followers,
            auth_failures_logged: Limiter::new(Duration::from_secs(10), 20),
            layout,
        }
    }

    /// A turn to build and stream a download, or a 503 telling the client to retry.
    pub fn download_turn(&self) -> Result<Permit, ApiError> {
        turn(&self.downloads, "Too many downloads are running at once", 5)
    }

    /// A turn to build a large answer, or a 503 telling the client to retry.
    pub fn large_answer(&self) -> Result<Permit, ApiError> {
        turn(&self.large_answers, "Too many large answers are being built at once", 1)
    }
}

/// A permit of `pool` within the patience a handler thread can spare, or the 503 saying `what`.
fn turn(pool: &Semaphore, what: &'static str, retry_after_secs: u64) -> Result<Permit, ApiError> {
    pool.acquire_within(LARGE_ANSWER_PATIENCE).ok_or(ApiError::Busy { what, retry_after_secs })
}

/// One authenticated request on its way through a handler: everything a handler needs.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub context: &'a Context,
    pub request: &'a Request,
    pub caller: &'a Caller,
    /// The Linkis `method` echo for this request.
    pub method: &'a str,
}

/// Parses a JSON body into `T` whatever its Content-Type (curl users often leave it out); an
/// empty body is an error.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    optional_json_body(request)?
        .ok_or_else(|| ApiError::BadRequest("The request body is empty; send a JSON object".into()))
}

/// Parses a JSON body into `T`; `None` when the body is empty.
pub fn optional_json_body<T: DeserializeOwned>(request: &Request) -> Result<Option<T>, ApiError> {
    let body = request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Err((depth, offset)) = json_depth::check(body, json_depth::MAX_DEPTH) {
        return Err(ApiError::BadRequest(format!(
            "The request body nests arrays and objects {depth} levels deep at byte {offset}; this server accepts at most {}",
            json_depth::MAX_DEPTH
        )));
    }
    // serde_json checks UTF-8 only in the strings it keeps: one it skips (a field a handler
    // does not read) could carry any bytes. JSON is UTF-8 (RFC 8259 §8.1), whatever is read.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::BadRequest(format!(
            "The request body is not UTF-8 (an invalid byte at offset {}); send JSON in UTF-8",
            e.valid_up_to()
        )));
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::BadRequest(match e.classify() {
            serde_json::error::Category::Data => format!("The request body holds a value of the wrong type: {e}"),
            _ => format!("The request body is not valid JSON: {e}"),
        })
    })
}

/// An integer query parameter: `None` when absent or blank, refused when not an integer.
pub fn integer_param(request: &Request, name: &str) -> Result<Option<i64>, ApiError> {
    match request.param(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "The parameter {name} must be an integer, not {}",
                crate::logging::shown(&text)
            ))
        }),
    }
}
