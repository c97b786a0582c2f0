//! The route table: a request's method and path become one [`Route`], decided once, before
//! authentication. The route says whether it is public, how large a body it takes, and which
//! handler answers it. Besides the REST API under [`PREFIX`], the web console's few files
//! (`/` and `/console/*`) are routes too, so that they get the same HEAD, 405 and access-log
//! treatment as every endpoint.

use super::auth::Caller;
use super::call::{Call, Context};
use super::console::{self, Asset};
use super::message::{Answer, ApiError, Message};
use super::request::percent_decode;
use super::request::Request;
use super::{admin, download, entrance, filesystem, jobhistory, metrics, openapi, user};

/// The URL prefix every Linkis REST path starts with.
pub const PREFIX: &str = "/api/rest_j/v1/";

/// Bodies of the public routes (login, logout): a user name and a password fit in this.
pub const PUBLIC_BODY_LIMIT: usize = 4 * 1024;

/// Bodies of routes that take only a small JSON object (killJobs lists of ids fit).
const SMALL_BODY_LIMIT: usize = 1024 * 1024;

/// One endpoint, with the ids its path carries (percent-decoded, one segment each).
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Login,
    Logout,
    UserInfo,
    Heartbeat,
    HistoryList,
    HistoryGet(String),
    DirFileTrees,
    OpenFile,
    OpenLog,
    ResultsetToExcel,
    ResultsetsToExcel,
    Submit,
    KillJobs,
    Status(String),
    Progress(String),
    ProgressWithResource(String),
    Log(String),
    Kill(String),
    Pause(String),
    Resume(String),
    /// Portico's own: a backup of the job history into the backup directory (admins).
    Backup,
    /// Portico's own: a backup of the job history sent as a download (admins).
    BackupDownload,
    /// Portico's own: the OpenAPI document of this API (public).
    OpenApi,
    /// `/metrics`, outside the Linkis prefix: Prometheus's scrape, allowed by address or token.
    Metrics,
    /// A file of the web console (public; not part of the REST API).
    Console(Asset),
    /// The endpoint exists, but not for this method.
    WrongMethod(&'static str),
    /// No endpoint at this path.
    Unknown,
}

impl Route {
    /// The route `method` and `path` (still percent-encoded, without the query) name.
    pub fn classify(method: &str, path: &str) -> Route {
        let get = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
        if path == "/metrics" {
            return if get { Route::Metrics } else { Route::WrongMethod("GET") };
        }
        if let Some(asset) = Asset::at(path) {
            return if get { Route::Console(asset) } else { Route::WrongMethod("GET") };
        }
        let Some(rest) = path.strip_prefix(PREFIX) else { return Route::Unknown };
        // Each segment is decoded on its own (execIDs contain ':' that clients may encode), so
        // an encoded '/' stays inside its segment instead of changing the route.
        let decoded: Vec<String> = rest.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let post = method.eq_ignore_ascii_case("POST");
        let id = |s: &str| s.to_string();
        match segments.as_slice() {
            ["user", "login"] => Route::Login,
            ["user", "logout"] => Route::Logout,
            ["user", "userInfo"] => Route::UserInfo,
            ["user", "heartbeat"] => Route::Heartbeat,
            ["jobhistory", "list"] if get => Route::HistoryList,
            ["jobhistory", task, "get"] if get => Route::HistoryGet(id(task)),
            ["filesystem", "getDirFileTrees"] if get => Route::DirFileTrees,
            ["filesystem", "openFile"] if get => Route::OpenFile,
            ["filesystem", "openLog"] if get => Route::OpenLog,
            ["filesystem", "resultsetToExcel"] if get => Route::ResultsetToExcel,
            ["filesystem", "resultsetsToExcel"] if get => Route::ResultsetsToExcel,
            ["jobhistory", "list"] | ["jobhistory", _, "get"] => Route::WrongMethod("GET"),
            ["filesystem", "getDirFileTrees" | "openFile" | "openLog" | "resultsetToExcel" | "resultsetsToExcel"] => {
                Route::WrongMethod("GET")
            }
            ["entrance", "submit" | "execute"] if post => Route::Submit,
            ["entrance", "submit" | "execute"] => Route::WrongMethod("POST"),
            ["entrance", "killJobs"] | ["entrance", _, "killJobs"] if post => Route::KillJobs,
            ["entrance", "killJobs"] | ["entrance", _, "killJobs"] => Route::WrongMethod("POST"),
            ["entrance", job, "status"] if get => Route::Status(id(job)),
            ["entrance", job, "progress"] if get => Route::Progress(id(job)),
            ["entrance", job, "progressWithResource"] if get => Route::ProgressWithResource(id(job)),
            ["entrance", job, "log"] if get => Route::Log(id(job)),
            ["entrance", job, "kill"] if get || post => Route::Kill(id(job)),
            ["entrance", job, "pause"] if get || post => Route::Pause(id(job)),
            ["entrance", job, "resume"] if get || post => Route::Resume(id(job)),
            ["entrance", _, "status" | "progress" | "progressWithResource" | "log"] => Route::WrongMethod("GET"),
            ["entrance", _, "kill" | "pause" | "resume"] => Route::WrongMethod("GET or POST"),
            ["portico", "admin", "backup"] if post => Route::Backup,
            ["portico", "admin", "backup"] if get => Route::BackupDownload,
            ["portico", "admin", "backup"] => Route::WrongMethod("GET or POST"),
            ["openapi.json"] if get => Route::OpenApi,
            ["openapi.json"] => Route::WrongMethod("GET"),
            _ => Route::Unknown,
        }
    }

    /// Answered without authentication.
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Login | Route::Logout | Route::OpenApi | Route::Metrics | Route::Console(_))
    }

    /// The route's name in metrics: its path template, so the label set is as small as the
    /// route table whatever paths clients send.
    pub fn name(&self) -> &'static str {
        match (self, openapi::templates(self).first()) {
            (_, Some(template)) => template,
            (Route::Metrics, None) => "/metrics",
            (Route::Console(_), None) => "console",
            (Route::WrongMethod(_), None) => "wrong_method",
            (_, None) => "unknown",
        }
    }

    /// The largest body this route reads; `max_body` is the configured limit for job code.
    pub fn body_limit(&self, max_body: usize) -> usize {
        match self {
            Route::Login | Route::Logout => PUBLIC_BODY_LIMIT,
            Route::Submit => max_body,
            Route::KillJobs => SMALL_BODY_LIMIT.min(max_body),
            // Everything else reads its arguments from the path and query; a body is read
            // (so the connection can be kept) only up to a small size.
            _ => PUBLIC_BODY_LIMIT,
        }
    }

    /// Runs the handler for this route; `caller` is `None` only for public routes.
    pub fn dispatch(
        &self,
        context: &Context,
        request: &Request,
        method: &str,
        caller: Option<&Caller>,
    ) -> Result<Answer, ApiError> {
        match self {
            Route::Login => return user::login(context, request, method).map(Answer::from),
            Route::Logout => return user::logout(context, request, method).map(Answer::from),
            Route::OpenApi => return Ok(openapi::document()),
            Route::Metrics => return metrics::scrape(context, request),
            Route::Console(asset) => return Ok(console::serve(*asset)),
            _ => {}
        }
        let Some(caller) = caller else {
            return Err(ApiError::Internal("a protected route was reached without a caller".into()));
        };
        let call = Call { context, request, caller, method };
        match self {
            Route::ResultsetToExcel => download::resultset(call),
            Route::ResultsetsToExcel => download::resultsets(call),
            Route::BackupDownload => admin::download(call),
            Route::Log(job) => entrance::log_or_follow(call, job),
            _ => self.envelope(call).map(Answer::from),
        }
    }

    /// The routes that answer with the Linkis envelope.
    fn envelope(&self, call: Call<'_>) -> Result<Message, ApiError> {
        let Call { request, .. } = call;
        match self {
            Route::Login
            | Route::Logout
            | Route::ResultsetToExcel
            | Route::ResultsetsToExcel
            | Route::BackupDownload
            | Route::Metrics
            | Route::OpenApi
            | Route::Console(_) => Err(ApiError::Internal("these routes are answered in dispatch".into())),
            Route::UserInfo => user::user_info(call),
            Route::Heartbeat => user::heartbeat(call),
            Route::HistoryList => jobhistory::list(call),
            Route::HistoryGet(task) => jobhistory::get(call, task),
            Route::DirFileTrees => filesystem::dir_file_trees(call),
            Route::OpenFile => filesystem::open_file(call),
            Route::OpenLog => filesystem::open_log(call),
            Route::Submit => entrance::submit(call),
            Route::KillJobs => entrance::kill_jobs(call),
            Route::Status(job) => entrance::status(call, job),
            Route::Progress(job) => entrance::progress(call, job, false),
            Route::ProgressWithResource(job) => entrance::progress(call, job, true),
            Route::Log(job) => entrance::log(call, job),
            Route::Kill(job) => entrance::kill(call, job),
            Route::Pause(job) => entrance::pause(call, job),
            Route::Resume(job) => entrance::resume(call, job),
            Route::Backup => admin::backup(call),
            Route::WrongMethod(allowed) => {
                Err(ApiError::MethodNotAllowed { method: crate::logging::shown(request.method()), allowed })
            }
            Route::Unknown => Err(ApiError::NoRoute(crate::logging::shown(request.path()))),
        }
    }
}

/// The `method` Linkis echoes: `/api/` + the path after `/api/rest_j/v1/`.
pub fn method_echo(path: &str) -> String {
    match path.strip_prefix(PREFIX) {
        Some(rest) => format!("/api/{rest}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_once_with_their_ids() {
        let p = |rest: &str| format!("{PREFIX}{rest}");
        assert_eq!(Route::classify("POST", &p("user/login")), Route::Login);
        assert!(Route::classify("GET", &p("user/logout/")).is_public());
        assert!(!Route::classify("GET", &p("user/userInfo")).is_public());
        assert_eq!(Route::classify("GET", &p("entrance/a%3Ab%2Fc/status")), Route::Status("a:b/c".into()));
        assert_eq!(Route::classify("DELETE", &p("entrance/1/kill")), Route::WrongMethod("GET or POST"));
        assert_eq!(Route::classify("GET", &p("entrance/submit")), Route::WrongMethod("POST"));
        assert_eq!(Route::classify("GET", "/other"), Route::Unknown);
        assert_eq!(Route::classify("GET", &p("entrance/1/2/status")), Route::Unknown);
        assert_eq!(Route::classify("GET", &p("filesystem/resultsetToExcel")), Route::ResultsetToExcel);
        assert_eq!(Route::classify("HEAD", &p("filesystem/resultsetsToExcel")), Route::ResultsetsToExcel);
        assert_eq!(Route::classify("POST", &p("filesystem/resultsetToExcel")), Route::WrongMethod("GET"));
        assert_eq!(Route::classify("POST", &p("portico/admin/backup")), Route::Backup);
        assert_eq!(Route::classify("GET", &p("portico/admin/backup")), Route::BackupDownload);
        assert_eq!(Route::classify("PUT", &p("portico/admin/backup")), Route::WrongMethod("GET or POST"));
        assert_eq!(Route::Login.body_limit(10 << 20), PUBLIC_BODY_LIMIT);
        assert_eq!(Route::Submit.body_limit(10 << 20), 10 << 20);
        assert_eq!(method_echo(&p("entrance/1/status")), "/api/entrance/1/status");
        assert!(Route::classify("GET", &p("openapi.json")).is_public());
        assert_eq!(Route::classify("POST", &p("openapi.json")), Route::WrongMethod("GET"));
        assert!(Route::classify("GET", "/metrics").is_public());
        assert_eq!(Route::classify("POST", "/metrics"), Route::WrongMethod("GET"));
        assert_eq!(Route::classify("GET", &p("entrance/12/status")).name(), "/entrance/{id}/status");
        assert_eq!(Route::classify("GET", "/nothing/here").name(), "unknown");
        assert_eq!(Route::classify("HEAD", "/"), Route::Console(Asset::Page));
        assert!(Route::classify("GET", "/console/console.css").is_public());
        assert_eq!(Route::classify("POST", "/"), Route::WrongMethod("GET"));
        assert_eq!(Route::classify("GET", "/console/"), Route::Unknown);
    }
}
