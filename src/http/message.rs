//! The Linkis `Message` envelope and the one place errors become answers.
//!
//! Every answer is `{method, status, message, data}` with the HTTP code Linkis derives from the
//! body status (0→200, 1→400, 2→412, -1→401, 3→403, 4→206). Errors a client causes are
//! [`ApiError`]s; [`ApiError::into_message`] is the only code that turns them into envelopes.

use serde::Serialize;
use serde_json::{json, Value};

use super::response::Response;
use crate::job::{JobError, QUEUE_FULL_CODE};

/// Body status codes Linkis clients check.
pub mod status {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const NOT_LOGGED_IN: i32 = -1;
    pub const NO_PERMISSION: i32 = 3;
}

/// Portico's own error code for a job whose files retention removed (Linkis has none: it keeps
/// results until someone deletes them outside it). Answered with HTTP 410 Gone.
pub const EXPIRED_CODE: u32 = 80090;

/// A Linkis envelope.
#[derive(Debug, Serialize)]
pub struct Message {
    pub method: Option<String>,
    pub status: i32,
    pub message: String,
    pub data: Value,
    /// An HTTP code other than the one the body status maps to (404, 405, 411, 413, 429, 500, 503).
    #[serde(skip)]
    pub http_override: Option<u16>,
    /// Extra response headers (Set-Cookie, Retry-After).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Held until the answer has been written (a permit for a large answer).
    #[serde(skip)]
    pub hold: Option<Hold>,
}

/// Something an answer keeps alive until it has left (see [`Response::hold`]).
pub struct Hold(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hold")
    }
}

impl Message {
    /// A success with Linkis's default message `OK`.
    pub fn ok(method: &str, data: Value) -> Message {
        Message {
            method: Some(method.to_string()),
            status: status::OK,
            message: "OK".into(),
            data,
            http_override: None,
            headers: Vec::new(),
            hold: None,
        }
    }

    /// Keeps `hold` alive until the answer has been written.
    pub fn holding(mut self, hold: Box<dyn std::any::Any + Send>) -> Message {
        self.hold = Some(Hold(hold));
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Message {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Replaces the human-readable message.
    pub fn with_message(mut self, message: impl Into<String>) -> Message {
        self.message = message.into();
        self
    }

    /// The HTTP code for this envelope.
    pub fn http_code(&self) -> u16 {
        self.http_override.unwrap_or(match self.status {
            status::OK => 200,
            status::NOT_LOGGED_IN => 401,
            2 => 412,
            status::NO_PERMISSION => 403,
            4 => 206,
            _ => 400,
        })
    }

    pub fn into_response(self) -> Response {
        let code = self.http_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| {
            br#"{"method":null,"status":1,"message":"cannot serialize the answer","data":{}}"#.to_vec()
        });
        let mut response = Response::json(code, body);
        response.headers.extend(self.headers);
        response.hold = self.hold.map(|hold| hold.0);
        response
    }
}

/// What a handler answers: the Linkis envelope, or a response of its own (a download).
pub enum Answer {
    Envelope(Message),
    Raw(Response),
}

impl From<Message> for Answer {
    fn from(message: Message) -> Answer {
        Answer::Envelope(message)
    }
}

impl Answer {
    pub fn into_response(self) -> Response {
        match self {
            Answer::Envelope(message) => message.into_response(),
            Answer::Raw(response) => response,
        }
    }
}

/// A request that could not be honoured, with what the client needs to know.
#[derive(Debug)]
pub enum ApiError {
    /// A failure in the job domain.
    Job(JobError),
    /// Malformed input: bad JSON, wrong types, bad parameters.
    BadRequest(String),
    /// A refusal of the filesystem service, with its Linkis error code (800xx), so that
    /// clients that look for the code find it where Linkis puts it.
    Workspace { code: u32, desc: String },
    /// The named job does not exist (the text is the endpoint's Linkis message).
    JobNotFound(String),
    /// No valid session or token.
    NotLoggedIn(String),
    /// Authenticated, but not allowed to do this.
    Forbidden(String),
    /// Authenticated, not allowed, and Linkis answers it as a plain error (kill).
    Refused(String),
    /// No such endpoint.
    NoRoute(String),
    /// The endpoint exists but not for this HTTP method.
    MethodNotAllowed { method: String, allowed: &'static str },
    /// The body is larger than the configured limit.
    PayloadTooLarge { limit: usize },
    /// Too many failed logins from this address: try again after this many seconds.
    Throttled { retry_after_secs: u64 },
    /// A public route's body was sent without a declared length.
    LengthRequired,
    /// The job's files were removed by retention at `removed_ms` (epoch ms); its record stays.
    Expired { task_id: u64, removed_ms: u64 },
    /// A bounded resource is in use by other requests: retry after this many seconds.
    Busy { what: &'static str, retry_after_secs: u64 },
    /// A bug or an environment failure on our side.
    Internal(String),
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> ApiError {
        ApiError::Job(e)
    }
}

impl ApiError {
    /// The envelope for this error, answering the call named `method`.
    pub fn into_message(self, method: &str) -> Message {
        let error = |status: i32, http: Option<u16>, message: String, data: Value| Message {
            method: Some(method.to_string()),
            status,
            message,
            data,
            http_override: http,
            headers: Vec::new(),
            hold: None,
        };
        match self {
            ApiError::Job(JobError::InvalidRequest { code, desc }) => error(
                status::ERROR,
                None,
                format!("error code(错误码): {code}, error message(错误信息): {desc}."),
                json!({"errorMsg": {"level": 2, "errCode": code, "desc": desc, "serviceKind": "linkis-cg-entrance"}}),
            ),
            ApiError::Workspace { code, desc } => error(
                status::ERROR,
                None,
                format!("error code(错误码): {code}, error message(错误信息): {desc}."),
                json!({"errorMsg": {"level": 2, "errCode": code, "desc": desc, "serviceKind": "linkis-ps-publicservice"}}),
            ),
            ApiError::Job(JobError::ShuttingDown) => error(
                status::ERROR,
                Some(503),
                "The server is shutting down and accepts no new jobs; retry against the restarted server.".into(),
                json!({}),
            ),
            ApiError::Job(JobError::QueueFull { desc, retry_after_secs }) => error(
                status::ERROR,
                None,
                format!("error code(错误码): {QUEUE_FULL_CODE}, error message(错误信息): {desc}."),
                json!({"errorMsg": {"level": 2, "errCode": QUEUE_FULL_CODE, "desc": desc, "serviceKind": "linkis-cg-entrance"}}),
            )
            .with_header("Retry-After", retry_after_secs.to_string()),
            ApiError::Job(e @ JobError::Storage { .. }) => {
                log::error!("{method}: {e}");
                error(
                    status::ERROR,
                    Some(500),
                    format!("operation failed(操作失败)s！the reason(原因)：{e}"),
                    json!({}),
                )
            }
            ApiError::BadRequest(msg) | ApiError::JobNotFound(msg) | ApiError::Refused(msg) => {
                error(status::ERROR, None, msg, json!({}))
            }
            ApiError::NotLoggedIn(msg) => error(status::NOT_LOGGED_IN, None, msg, json!({})),
            ApiError::Forbidden(msg) => error(status::NO_PERMISSION, None, msg, json!({})),
            ApiError::NoRoute(path) => error(status::ERROR, Some(404), format!("No API at {path}"), json!({})),
            ApiError::MethodNotAllowed { method: verb, allowed } => {
                error(status::ERROR, Some(405), format!("{verb} is not supported here; use {allowed}"), json!({}))
                    .with_header("Allow", allow_header(allowed))
            }
            ApiError::PayloadTooLarge { limit } => error(
                status::ERROR,
                Some(413),
                format!("The request body is larger than the {limit} bytes this server accepts"),
                json!({}),
            ),
            ApiError::Throttled { retry_after_secs } => error(
                status::ERROR,
                Some(429),
                format!("Too many failed logins from your address; try again in {retry_after_secs} seconds."),
                json!({}),
            )
            .with_header("Retry-After", retry_after_secs.to_string()),
            ApiError::LengthRequired => error(
                status::ERROR,
                Some(411),
                "Send this request's body with a Content-Length (not chunked)".into(),
                json!({}),
            ),
            ApiError::Expired { task_id, removed_ms } => {
                let desc = format!(
                    "The files of job {task_id} (its log, result sets and working directory) were removed by \
                     retention on {}; its record is kept (jobhistory/{task_id}/get)",
                    crate::clock::log_timestamp(removed_ms).get(..19).unwrap_or_default()
                );
                error(
                    status::ERROR,
                    Some(410),
                    format!("error code(错误码): {EXPIRED_CODE}, error message(错误信息): {desc}."),
                    json!({
                        "errorMsg": {"level": 2, "errCode": EXPIRED_CODE, "desc": desc, "serviceKind": "linkis-ps-publicservice"},
                        "taskID": task_id,
                        "filesRemovedTime": removed_ms,
                    }),
                )
            }
            ApiError::Busy { what, retry_after_secs } => {
                error(status::ERROR, Some(503), format!("{what}; retry in {retry_after_secs} seconds."), json!({}))
                    .with_header("Retry-After", retry_after_secs.to_string())
            }
            ApiError::Internal(reason) => {
                log::error!("{method}: internal error: {reason}");
                error(
                    status::ERROR,
                    Some(500),
                    format!("operation failed(操作失败)s！the reason(原因)：{reason}"),
                    json!({}),
                )
            }
        }
    }
}

/// RFC 9110 asks a 405 to list the methods in `Allow`; `allowed` is the message's wording
/// ("GET", "POST", "GET or POST"), and HEAD is answered wherever GET is.
fn allow_header(allowed: &str) -> String {
    let mut methods: Vec<&str> = allowed.split(" or ").collect();
    if methods.contains(&"GET") {
        methods.insert(1, "HEAD");
    }
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_status_maps_to_http_code() {
        let codes: Vec<u16> = [0, 1, 2, -1, 3, 4]
            .into_iter()
            .map(|s| Message { status: s, method: None, ..Message::ok("", json!({})) }.http_code())
            .collect();
        assert_eq!(codes, [200, 400, 412, 401, 403, 206]);
    }

    #[test]
    fn linkis_errors_carry_their_code() {
        let msg = ApiError::Job(JobError::InvalidRequest { code: 20007, desc: "empty".into() })
            .into_message("/api/entrance/submit");
        assert_eq!(msg.status, 1);
        assert_eq!(msg.message, "error code(错误码): 20007, error message(错误信息): empty.");
        assert_eq!(msg.data["errorMsg"]["errCode"], 20007);
        let text = serde_json::to_string(&msg).unwrap();
        assert!(!text.contains("http_override"), "{text}");
    }

    #[test]
    fn a_wrong_method_is_told_the_allowed_ones() {
        let msg = ApiError::MethodNotAllowed { method: "PUT".into(), allowed: "GET or POST" }.into_message("/api/x");
        assert_eq!(msg.http_code(), 405);
        assert_eq!(msg.headers, [("Allow".to_string(), "GET, HEAD, POST".to_string())]);
        assert_eq!(allow_header("POST"), "POST");
        assert_eq!(allow_header("GET"), "GET, HEAD");
    }

    #[test]
    fn expired_files_are_gone_not_missing() {
        let msg =
            ApiError::Expired { task_id: 12, removed_ms: 1_714_558_053_007 }.into_message("/api/filesystem/openLog");
        assert_eq!((msg.status, msg.http_code()), (1, 410));
        let on = crate::clock::log_timestamp(1_714_558_053_007);
        assert!(
            msg.message.contains(&format!(
                "job 12 (its log, result sets and working directory) were removed by retention on {}",
                &on[..19]
            )),
            "{}",
            msg.message
        );
        assert_eq!(msg.data["errorMsg"]["errCode"], EXPIRED_CODE);
        assert_eq!(msg.data["filesRemovedTime"], 1_714_558_053_007u64);
    }
}
