//! The HTTP layer: the transport, the request pipeline, the route table, and the envelope.
//!
//! One request goes through one pipeline: the transport (`transport.rs`, `conn.rs`, `wire.rs`)
//! hands over a complete head; [`serve`] classifies the route once (`routes.rs`), authenticates
//! the caller from the head unless the route is public (`auth.rs`), reads the body within the
//! route's own limit, and runs the handler with its `Call` (`call.rs`). Handlers are thin:
//! parse, authorize, call the job domain, wrap the answer (`message.rs`). Nothing here knows
//! how jobs run. The web console's files (`console.rs`) are public routes of the same
//! pipeline; the page talks to the API like any other client.

mod admin;
mod admission;
pub mod auth;
mod call;
mod conn;
mod console;
mod download;
mod entrance;
mod filesystem;
pub(crate) mod fuzz;
mod incoming;
mod jobhistory;
mod json_depth;
pub mod message;
mod metrics;
pub(crate) mod openapi;
mod outgoing;
mod request;
mod response;
mod routes;
mod transport;
mod user;
mod wire;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use self::call::Context;
use self::message::ApiError;
use self::request::Request;
use self::response::Response;
use self::routes::{method_echo, Route};
use self::wire::{BodyError, Framing, Head};
use crate::logging::shown;

/// A running HTTP front end.
pub struct HttpServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    poller: Option<JoinHandle<io::Result<()>>>,
}

/// Binds the listening socket; separate from [`HttpServer::start`] so the bound port can go
/// into execIDs before any request is served.
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

impl HttpServer {
    /// Starts serving on `listener`, answering with `context`.
    pub fn start(listener: TcpListener, context: Context) -> io::Result<HttpServer> {
        let limits = transport_limits(&context.config);
        let context = Arc::new(context);
        let handler: Arc<transport::Handler> =
            Arc::new(move |head: Head, peer: SocketAddr, body: &mut conn::Body<'_>| serve(&context, head, peer, body));
        HttpServer::run(listener, limits, handler)
    }

    /// The same transport, on the default settings, answering every request with `body` as
    /// JSON and nothing else: the ceiling the status-polling benchmark measures the whole server
    /// against, so that the figure says what routing, authentication and the job lookup cost on
    /// top of the transport.
    pub fn fixed_answer(listener: TcpListener, body: Vec<u8>) -> io::Result<HttpServer> {
        let config = crate::Config::default();
        let handler: Arc<transport::Handler> =
            Arc::new(move |_: Head, _: SocketAddr, request_body: &mut conn::Body<'_>| {
                // Read, as every route does: a connection whose body was left unread is closed.
                let _ = request_body.read(8 * 1024);
                Response::json(200, body.clone())
            });
        HttpServer::run(listener, transport_limits(&config), handler)
    }

    fn run(
        listener: TcpListener,
        limits: transport::Limits,
        handler: Arc<transport::Handler>,
    ) -> io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(1))?);
        let poller = {
            let (stopping, waker) = (Arc::clone(&stopping), Arc::clone(&waker));
            std::thread::Builder::new()
                .name("portico-poll".into())
                .spawn(move || transport::run(listener, poll, limits, handler, stopping, waker))?
        };
        Ok(HttpServer { addr, stopping, waker, poller: Some(poller) })
    }

    /// The address actually listened on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the transport ends: `Ok` after [`HttpServer::stop`], `Err` when accepting
    /// failed in a way that cannot be waited out.
    pub fn wait(&mut self) -> io::Result<()> {
        match self.poller.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| Err(io::Error::other("the poller thread panicked"))),
            None => Ok(()),
        }
    }

    /// A handle that ends the transport normally, as [`HttpServer::stop`] does. It needs no new
    /// descriptor, so it works when the process has run out of them.
    pub fn stop_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        let stopping = Arc::clone(&self.stopping);
        let waker = Arc::clone(&self.waker);
        move || {
            stopping.store(true, Ordering::SeqCst);
            let _ = waker.wake();
        }
    }

    /// Stops accepting connections; requests with a handler finish.
    pub fn stop(&mut self) {
        if self.poller.is_some() {
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

/// The transport's bounds from the settings.
fn transport_limits(config: &crate::Config) -> transport::Limits {
    transport::Limits {
        max_head_bytes: 64 * 1024,
        prefetch_body_bytes: 8 * 1024,
        idle_timeout: config.idle_timeout,
        io_timeout: Duration::from_secs(30),
        max_connections: config.max_connections,
        max_connections_per_address: config.max_connections_per_address,
        max_buffered_bytes: 32 * 1024 * 1024,
        handler_threads: config.http_threads,
        linger_time: Duration::from_secs(2),
        linger_bytes: (config.max_body_bytes as u64).saturating_mul(2),
    }
}

/// Answers one request end to end: route, authentication, body, handler, access log.
///
/// The caller is authenticated from the head *before* the body is read, so an unauthenticated
/// client cannot make the server read (or wait for) a body at all; the transport then closes
/// the connection instead of reading on.
fn serve(context: &Context, head: Head, peer: SocketAddr, body: &mut conn::Body<'_>) -> Response {
    let started = Instant::now();
    let route = Route::classify(&head.method, head.path());
    let request = Request::new(head, peer, &context.config.trusted_proxies);
    let method = method_echo(request.path());
    let (answer, request) = answer(context, &route, request, body, &method);
    let response = answer.map_or_else(|e| e.into_message(&method).into_response(), message::Answer::into_response);
    crate::metrics::get().request(route.name(), response.status, started.elapsed());
    if context.config.access_log {
        log::info!(
            "{} {} {} {}us {}",
            shown(request.method()),
            shown(request.path()),
            response.status,
            started.elapsed().as_micros(),
            request.client()
        );
    }
    response
}

fn answer(
    context: &Context,
    route: &Route,
    request: Request,
    body: &mut conn::Body<'_>,
    method: &str,
) -> (Result<message::Answer, ApiError>, Request) {
    if *route == Route::Unknown {
        let error = ApiError::NoRoute(shown(request.path()));
        return (Err(error), request);
    }
    let caller = if route.is_public() {
        None
    } else {
        match auth::authenticate(context, &request) {
            Ok(caller) => Some(caller),
            Err(e) => return (Err(e), request),
        }
    };
    let limit = route.body_limit(context.config.max_body_bytes);
    if route.is_public() && matches!(body.framing(), Ok(Framing::Chunked)) {
        // A public route's body must say its size, so that the transport reads it before a
        // handler thread is spent on it.
        return (Err(ApiError::LengthRequired), request);
    }
    let bytes = match body.read(limit) {
        Ok(bytes) => bytes,
        Err(e) => {
            let error = match e {
                BodyError::TooLarge => ApiError::PayloadTooLarge { limit },
                BodyError::Malformed(why) => ApiError::BadRequest(format!("Malformed request body: {why}")),
                BodyError::Io(e) => ApiError::BadRequest(format!("cannot read the request body: {e}")),
            };
            return (Err(error), request);
        }
    };
    let request = request.with_body(bytes);
    let answer = route.dispatch(context, &request, method, caller.as_ref());
    (answer, request)
}
