//! The HTTP layer: the transport, request limits, the route table, and the envelope.
//!
//! `server.rs` accepts connections and reads requests within limits (our own small HTTP/1.1
//! transport: see there why not tiny_http); every request is turned into a `rouille::Request`,
//! authenticated from its head before its body is read, routed, and answered with a
//! `rouille::Response`. Handlers are thin: parse, authenticate, call the job domain, wrap the
//! answer.

pub mod auth;
mod entrance;
mod filesystem;
mod jobhistory;
pub mod message;
mod server;
mod user;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rouille::{Request, Response};
use serde_json::Value;

use self::auth::Caller;
use self::message::{ApiError, Message};
use crate::accounts::Accounts;
use crate::config::Config;
use crate::job::scheduler::Scheduler;

/// The URL prefix every Linkis REST path starts with.
pub const PREFIX: &str = "/api/rest_j/v1/";

/// One authenticated request on its way through a handler: everything a handler needs.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub context: &'a Context,
    pub request: &'a Request,
    pub caller: &'a Caller,
    /// The Linkis `method` echo for this request.
    pub method: &'a str,
}

/// What handlers need: the settings, the job service and the credential store.
pub struct Context {
    pub config: Config,
    pub scheduler: Scheduler,
    pub accounts: Accounts,
}

/// A running HTTP front end.
pub struct HttpServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    listener_fd: server::ListenerFd,
    accept: Option<JoinHandle<io::Result<()>>>,
}

/// Binds the listening socket; separate from [`HttpServer::start`] so the bound port can go
/// into execIDs before any request is served.
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

impl HttpServer {
    /// Starts accepting on `listener`, answering with `context`.
    pub fn start(listener: TcpListener, context: Context) -> io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let config = &context.config;
        let limits = server::Limits {
            max_head_bytes: 64 * 1024,
            max_body_bytes: config.max_body_bytes,
            idle_timeout: config.idle_timeout,
            io_timeout: Duration::from_secs(30),
            max_connections: config.max_connections,
            max_connections_per_address: config.max_connections_per_address,
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let context = Arc::new(context);
        let handler: Arc<server::Handler> =
            Arc::new(move |head: &server::Head, from: SocketAddr, body: &mut server::Body<'_, '_>| {
                serve(&context, head, from, body)
            });
        let listener_fd = server::listener_fd(&listener);
        let accept = {
            let (stopping, fd) = (Arc::clone(&stopping), Arc::clone(&listener_fd));
            std::thread::Builder::new()
                .name("portico-accept".into())
                .spawn(move || server::accept_loop(listener, limits, handler, stopping, fd))?
        };
        Ok(HttpServer { addr, stopping, listener_fd, accept: Some(accept) })
    }

    /// The address actually listened on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the accept loop ends: `Ok` after [`HttpServer::stop`], `Err` when accepting
    /// failed in a way that cannot be waited out.
    pub fn wait(&mut self) -> io::Result<()> {
        match self.accept.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| Err(io::Error::other("the accept thread panicked"))),
            None => Ok(()),
        }
    }

    /// A handle that ends the accept loop normally, as [`HttpServer::stop`] does.
    pub fn stop_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        let stopping = Arc::clone(&self.stopping);
        let fd = Arc::clone(&self.listener_fd);
        move || {
            stopping.store(true, Ordering::SeqCst);
            server::wake(&fd);
        }
    }

    /// Stops accepting connections; open connections finish the request they are on.
    pub fn stop(&mut self) {
        if self.accept.is_some() {
            (self.stop_trigger())();
            let _ = self.wait();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers one request end to end: authentication, limits, routing, panics, logging.
///
/// The caller is authenticated from the head *before* the body is read, so an unauthenticated
/// client cannot make the server read (or wait for) a body at all; the transport then closes
/// the connection instead of draining it.
fn serve(context: &Context, head: &server::Head, from: SocketAddr, body: &mut server::Body<'_, '_>) -> Response {
    let started = Instant::now();
    let url = head.target.as_str();
    let method = method_echo(url);
    let answer = (|| -> Result<Response, ApiError> {
        if !path_of(url).starts_with(PREFIX) {
            return Err(ApiError::NoRoute(path_of(url).to_string()));
        }
        let caller = if is_public(path_of(url)) {
            None
        } else {
            let bare = Request::fake_http_from(from, head.method.clone(), url, head.headers.clone(), Vec::new());
            Some(auth::authenticate(context, &bare)?)
        };
        let bytes = body.read().map_err(|e| match e {
            server::BodyError::TooLarge => ApiError::PayloadTooLarge { limit: context.config.max_body_bytes },
            server::BodyError::Malformed(why) => ApiError::BadRequest(format!("Malformed request body: {why}")),
            server::BodyError::Io(e) => ApiError::BadRequest(format!("cannot read the request body: {e}")),
        })?;
        let request = Request::fake_http_from(from, head.method.clone(), url, head.headers.clone(), bytes);
        Ok(panic::catch_unwind(AssertUnwindSafe(|| route(context, &request, caller))).unwrap_or_else(|_| {
            ApiError::Internal("the handler panicked".into()).into_message(&method).into_response()
        }))
    })();
    let response = answer.unwrap_or_else(|e| e.into_message(&method).into_response());
    log::info!("{} {} {} {}us", head.method, path_of(url), response.status_code, started.elapsed().as_micros());
    response
}

/// API paths answered without authentication: login and logout.
fn is_public(path: &str) -> bool {
    path.strip_prefix(PREFIX).is_some_and(|rest| matches!(rest.trim_end_matches('/'), "user/login" | "user/logout"))
}

fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The `method` Linkis echoes: `/api/` + the path after `/api/rest_j/v1/`.
pub fn method_echo(url: &str) -> String {
    let path = path_of(url);
    match path.strip_prefix(PREFIX) {
        Some(rest) => format!("/api/{rest}"),
        None => path.to_string(),
    }
}

/// Decodes `%XX` escapes; invalid escapes and invalid UTF-8 are kept as they are (lossily), which
/// simply makes an id that matches no job.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route table: one line per endpoint.
fn route(context: &Context, request: &Request, caller: Option<Caller>) -> Response {
    let path = path_of(request.raw_url());
    let method = method_echo(path);
    // Each segment is decoded on its own (execIDs contain ':' that clients may encode), so an
    // encoded '/' stays inside its segment instead of changing the route.
    let decoded: Vec<String> =
        path.strip_prefix(PREFIX).unwrap_or("").split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let verb = request.method();
    let get = verb.eq_ignore_ascii_case("GET");
    let post = verb.eq_ignore_ascii_case("POST");
    let answer = (|| -> Result<Message, ApiError> {
        let not_allowed = |allowed| Err(ApiError::MethodNotAllowed { method: verb.to_string(), allowed });
        if !path.starts_with(PREFIX) {
            return Err(ApiError::NoRoute(path.to_string()));
        }
        match segments.as_slice() {
            ["user", "login"] => return user::login(context, request, &method),
            ["user", "logout"] => return user::logout(context, request, &method),
            _ => {}
        }
        let caller = match caller {
            Some(caller) => caller,
            None => auth::authenticate(context, request)?,
        };
        let call = Call { context, request, caller: &caller, method: &method };
        match segments.as_slice() {
            ["user", "userInfo"] => user::user_info(&caller, &method),
            ["user", "heartbeat"] => user::heartbeat(&method),
            ["jobhistory", "list"] if get => jobhistory::list(call),
            ["jobhistory", id, "get"] if get => jobhistory::get(call, id),
            ["filesystem", "getDirFileTrees"] if get => filesystem::dir_file_trees(call),
            ["filesystem", "openFile"] if get => filesystem::open_file(call),
            ["filesystem", "openLog"] if get => filesystem::open_log(call),
            ["jobhistory", "list"] | ["jobhistory", _, "get"] => not_allowed("GET"),
            ["filesystem", "getDirFileTrees" | "openFile" | "openLog"] => not_allowed("GET"),
            ["entrance", "submit"] if post => entrance::submit(call),
            ["entrance", "execute"] if post => entrance::submit(call),
            ["entrance", "submit" | "execute"] => not_allowed("POST"),
            ["entrance", "killJobs"] | ["entrance", _, "killJobs"] if post => entrance::kill_jobs(call),
            ["entrance", id, "status"] if get => entrance::status(call, id),
            ["entrance", id, "progress"] if get => entrance::progress(call, id, false),
            ["entrance", id, "progressWithResource"] if get => entrance::progress(call, id, true),
            ["entrance", id, "log"] if get => entrance::log(call, id),
            ["entrance", id, "kill"] if get || post => entrance::kill(call, id),
            ["entrance", id, "pause"] if get || post => entrance::pause(call, id),
            ["entrance", id, "resume"] if get || post => entrance::resume(call, id),
            ["entrance", _, "status" | "progress" | "progressWithResource" | "log"] => not_allowed("GET"),
            ["entrance", _, "kill" | "pause" | "resume"] => not_allowed("GET or POST"),
            ["entrance", _, "killJobs"] | ["entrance", "killJobs"] => not_allowed("POST"),
            _ => Err(ApiError::NoRoute(path.to_string())),
        }
    })();
    answer.unwrap_or_else(|e| e.into_message(&method)).into_response()
}

/// Parses a JSON body whatever its Content-Type (curl users often leave it out); an empty body
/// is an error.
fn json_body(request: &Request) -> Result<Value, ApiError> {
    optional_json_body(request)?
        .ok_or_else(|| ApiError::BadRequest("The request body is empty; send a JSON object".into()))
}

/// Parses a JSON body whatever its Content-Type; `None` when the body is empty.
fn optional_json_body(request: &Request) -> Result<Option<Value>, ApiError> {
    let mut body = Vec::new();
    if let Some(mut data) = request.data() {
        data.read_to_end(&mut body).map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}")))
}

/// An integer query parameter: `None` when absent or blank, refused when not an integer.
fn integer_param(request: &Request, name: &str) -> Result<Option<i64>, ApiError> {
    match request.get_param(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("The parameter {name} must be an integer, not {text:?}"))),
    }
}
