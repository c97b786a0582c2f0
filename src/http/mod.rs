//! The HTTP layer: accept loop, request limits, the route table, and the envelope.
//!
//! tiny_http accepts connections; a fixed pool of handler threads turns each request into a
//! `rouille::Request`, routes it, and writes the `rouille::Response` back. We run our own accept
//! loop rather than rouille's so that a failing accept (for example when the process runs out
//! of file descriptors, after which tiny_http accepts nothing more) ends the server with an
//! error a supervisor can act on, instead of leaving a process that refuses every connection.
//! Handlers are thin: parse, authenticate, call the job domain, wrap the answer.

pub mod auth;
mod entrance;
mod filesystem;
mod jobhistory;
pub mod message;
mod user;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rouille::{Request, Response};
use serde_json::Value;
use threadpool::ThreadPool;

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
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<io::Result<()>>>,
}

/// Binds the listening socket; separate from [`HttpServer::start`] so the bound port can go
/// into execIDs before any request is served.
pub fn bind(addr: &str) -> io::Result<tiny_http::Server> {
    tiny_http::Server::http(addr)
        .map_err(|e| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("cannot listen on {addr}: {e}")))
}

impl HttpServer {
    /// Starts serving `server` with `context` on a pool of `config.http_threads` threads.
    pub fn start(server: tiny_http::Server, context: Context) -> io::Result<HttpServer> {
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "only TCP listening is supported"))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let pool = ThreadPool::with_name("portico-http".into(), context.config.http_threads);
        let context = Arc::new(context);
        let accept = {
            let server = Arc::clone(&server);
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new()
                .name("portico-accept".into())
                .spawn(move || accept_loop(&server, &stopping, &pool, &context))?
        };
        Ok(HttpServer { addr, server, stopping, accept: Some(accept) })
    }

    /// The address actually listened on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the accept loop ends: `Ok` after [`HttpServer::stop`], `Err` when accepting
    /// failed and the server can no longer take connections.
    pub fn wait(&mut self) -> io::Result<()> {
        match self.accept.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| Err(io::Error::other("the accept thread panicked"))),
            None => Ok(()),
        }
    }

    /// A handle that makes the accept loop end with an error, for failures the loop cannot see
    /// itself: tiny_http's accept thread *panics* (rather than reporting an error) when it runs
    /// out of file descriptors, after which nothing is accepted any more.
    pub fn fatal_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        let server = Arc::clone(&self.server);
        move || server.unblock()
    }

    /// A handle that ends the accept loop normally, as [`HttpServer::stop`] does.
    pub fn stop_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        let server = Arc::clone(&self.server);
        let stopping = Arc::clone(&self.stopping);
        move || {
            stopping.store(true, Ordering::SeqCst);
            server.unblock();
        }
    }

    /// Stops accepting requests; requests in flight still get their answers.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        let _ = self.wait();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    server: &tiny_http::Server,
    stopping: &AtomicBool,
    pool: &ThreadPool,
    context: &Arc<Context>,
) -> io::Result<()> {
    loop {
        match server.recv() {
            Ok(request) => {
                let context = Arc::clone(context);
                pool.execute(move || serve(&context, request));
            }
            Err(_) if stopping.load(Ordering::SeqCst) => {
                pool.join();
                return Ok(());
            }
            Err(e) => {
                log::error!("accepting connections failed, the server cannot continue: {e}");
                return Err(e);
            }
        }
    }
}

/// Answers one request end to end: authentication, limits, routing, panics, logging.
///
/// The caller is authenticated from the headers before the body is read, so an unauthenticated
/// client cannot make the server read (or wait for) a body at all.
fn serve(context: &Context, mut request: tiny_http::Request) {
    let started = Instant::now();
    let verb = request.method().as_str().to_string();
    let url = request.url().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let from = request.remote_addr().copied().unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    if !path_of(&url).starts_with(PREFIX) {
        let missing = ApiError::NoRoute(path_of(&url).to_string()).into_message(&method_echo(&url));
        return respond(
            request,
            missing.into_response().with_additional_header("Connection", "close"),
            &verb,
            &url,
            started,
        );
    }
    let caller = if is_public(path_of(&url)) {
        None
    } else {
        let head = Request::fake_http_from(from, verb.clone(), url.clone(), headers.clone(), Vec::new());
        match auth::authenticate(context, &head) {
            Ok(caller) => Some(caller),
            Err(e) => {
                let refused =
                    e.into_message(&method_echo(&url)).into_response().with_additional_header("Connection", "close");
                return respond(request, refused, &verb, &url, started);
            }
        }
    };
    let response = match read_body(&mut request, context.config.max_body_bytes) {
        Ok(body) => {
            let routed = Request::fake_http_from(from, verb.clone(), url.clone(), headers, body);
            match panic::catch_unwind(AssertUnwindSafe(|| route(context, &routed, caller))) {
                Ok(response) => response,
                Err(_) => {
                    ApiError::Internal("the handler panicked".into()).into_message(&method_echo(&url)).into_response()
                }
            }
        }
        Err(e) => e.into_message(&method_echo(&url)).into_response().with_additional_header("Connection", "close"),
    };
    respond(request, response, &verb, &url, started);
}

/// API paths answered without authentication: login and logout.
fn is_public(path: &str) -> bool {
    path.strip_prefix(PREFIX).is_some_and(|rest| matches!(rest.trim_end_matches('/'), "user/login" | "user/logout"))
}

/// Writes `response` and logs the request's one line.
fn respond(request: tiny_http::Request, response: Response, verb: &str, url: &str, started: Instant) {
    let code = response.status_code;
    log::info!("{verb} {} {code} {}us", path_of(url), started.elapsed().as_micros());
    let (data, length) = response.data.into_reader_and_size();
    let mut reply = tiny_http::Response::empty(code).with_data(data, length);
    for (name, value) in response.headers {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            reply.add_header(header);
        }
    }
    // A client that hung up cannot be answered; there is nothing more to do for it.
    let _ = request.respond(reply);
}

/// Reads the body, refusing (without reading it) one larger than `limit`.
fn read_body(request: &mut tiny_http::Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if request.body_length().is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(body)
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

/// Parses a JSON body whatever its Content-Type (curl users often leave it out).
fn json_body(request: &Request) -> Result<Value, ApiError> {
    let mut body = Vec::new();
    if let Some(mut data) = request.data() {
        data.read_to_end(&mut body).map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("The request body is empty; send a JSON object".into()));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}")))
}
