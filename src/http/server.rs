//! The HTTP/1.1 transport: accepting connections, reading requests within limits, writing
//! responses.
//!
//! This replaces tiny_http, whose 0.12 release (the latest) cannot be made safe here: when a
//! request body is left unread it drains the rest with `vec![0; remaining]`, so a single request
//! declaring a huge `Content-Length` aborted the whole process on the failed allocation; its
//! accept thread panics and stops for good when descriptors run out; and it never times out an
//! idle connection. Here:
//!
//! * every connection has its own thread, a bounded number of them (`max_connections`);
//! * every phase of a request has an absolute deadline, not just a per-read timeout: an idle
//!   keep-alive connection is closed after `idle_timeout`, a request head must arrive within
//!   `io_timeout`, a body within `io_timeout` plus time for its size at a modest minimum rate;
//! * the head is read within a size limit; the application decides from the head alone
//!   (authentication, declared size) whether the body is read at all; bodies are framed
//!   strictly (one `Content-Length`, digits only, or exactly `chunked` with every framing byte
//!   counted), and anything ambiguous is refused and the connection closed;
//! * a connection that must close with input still unread is closed gracefully: the answer
//!   goes out, then what the client is still sending is read and thrown away for a bounded
//!   time and size, so the client sees the answer instead of a reset;
//! * running out of descriptors is survived: one descriptor is held in reserve, released to
//!   accept and refuse the waiting connection with 503, then taken back.
//!
//! It knows nothing of routes or the Linkis envelope; [`Handler`] is the application.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rouille::Response;

use crate::sync::lock;

/// The limits a connection is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request head (request line and headers).
    pub max_head_bytes: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long a request head may take to arrive, and the base allowance for a body.
    pub io_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections served at once from one client address, so one client cannot take them all.
    pub max_connections_per_address: usize,
}

/// The slowest a body may arrive, beyond the base allowance: 16 KiB a second.
const MIN_BODY_BYTES_PER_SEC: u64 = 16 * 1024;

/// How long, and how much, a closing connection's unread input is read and thrown away.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Empty lines tolerated before a request line (RFC 9112 §2.2 allows "at least one").
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Trailer bytes accepted after a chunked body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// A parsed request line and headers.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub target: String,
    /// HTTP/1.0 (`false`) or HTTP/1.1 (`true`).
    pub http11: bool,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the client wants the connection kept open after this request.
    fn keep_alive(&self) -> bool {
        let connection = self.header("Connection").map(str::to_ascii_lowercase).unwrap_or_default();
        if self.http11 {
            !connection.contains("close")
        } else {
            connection.contains("keep-alive")
        }
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than `max_body_bytes` (declared or as sent).
    TooLarge,
    /// Not a valid HTTP body (bad or conflicting framing).
    Malformed(&'static str),
    /// The client went away or was too slow.
    Io(io::Error),
}

/// How a request's body is framed, decided from its head.
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The framing of a request, strictly: one agreed `Content-Length` of digits, or exactly one
/// `Transfer-Encoding: chunked` on HTTP/1.1, never both. Anything else could be read
/// differently by a proxy in front (request smuggling), so it is refused.
fn framing(head: &Head) -> Result<Framing, BodyError> {
    let encodings: Vec<&str> = head.headers_named("Transfer-Encoding").collect();
    let mut length = None;
    for value in head.headers_named("Content-Length").flat_map(|v| v.split(',')) {
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BodyError::Malformed("bad Content-Length"));
        }
        let parsed = value.parse::<u64>().map_err(|_| BodyError::Malformed("bad Content-Length"))?;
        if length.is_some_and(|known| known != parsed) {
            return Err(BodyError::Malformed("conflicting Content-Length headers"));
        }
        length = Some(parsed);
    }
    match (encodings.as_slice(), length) {
        ([], None) => Ok(Framing::None),
        ([], Some(n)) => Ok(Framing::Length(n)),
        ([_, ..], Some(_)) => Err(BodyError::Malformed("both Content-Length and Transfer-Encoding")),
        ([one], None) if head.http11 && one.trim_matches([' ', '\t']).eq_ignore_ascii_case("chunked") => {
            Ok(Framing::Chunked)
        }
        _ => Err(BodyError::Malformed("unsupported Transfer-Encoding (only a single chunked, on HTTP/1.1)")),
    }
}

/// A socket reader that enforces an absolute deadline across all the reads of one phase.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the client took too long"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

type Reader<'a> = BufReader<DeadlineReader<'a>>;

fn set_deadline(reader: &mut Reader<'_>, within: Duration) {
    reader.get_mut().deadline = Instant::now() + within;
}

/// Reads the body of the request being handled, when the application asks for it.
pub struct Body<'r, 's> {
    reader: &'r mut Reader<'s>,
    stream: &'s TcpStream,
    head: &'r Head,
    limits: Limits,
    /// Set once the body has been read completely; otherwise the connection must close.
    consumed: bool,
}

impl Body<'_, '_> {
    /// Reads the whole body (answering `Expect: 100-continue` first).
    pub fn read(&mut self) -> Result<Vec<u8>, BodyError> {
        let framing = framing(self.head)?;
        let limit = self.limits.max_body_bytes;
        if let Framing::Length(n) = framing {
            if n > limit as u64 {
                return Err(BodyError::TooLarge);
            }
        }
        if matches!(framing, Framing::None) {
            self.consumed = true;
            return Ok(Vec::new());
        }
        if self.head.http11 && self.head.header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            let mut writer = self.stream;
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(BodyError::Io)?;
        }
        let expected = match framing {
            Framing::Length(n) => n,
            _ => limit as u64,
        };
        let allowance = self.limits.io_timeout + Duration::from_secs(expected / MIN_BODY_BYTES_PER_SEC);
        set_deadline(self.reader, allowance);
        let body = match framing {
            Framing::Length(n) => {
                // Grows with what arrives, so a declared size costs nothing until it is sent.
                let mut body = Vec::new();
                self.reader.by_ref().take(n).read_to_end(&mut body).map_err(BodyError::Io)?;
                if body.len() as u64 != n {
                    return Err(BodyError::Malformed("the body ended early"));
                }
                body
            }
            _ => read_chunked(self.reader, limit)?,
        };
        self.consumed = true;
        Ok(body)
    }
}

/// The application: answers one request. It may call [`Body::read`]; if it does not (or the
/// read fails) the connection is closed after the answer, so an unread body is never parsed.
pub type Handler = dyn Fn(&Head, SocketAddr, &mut Body<'_, '_>) -> Response + Send + Sync;

fn read_chunked(reader: &mut Reader<'_>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    // Every framing byte counts against the limit, so tiny chunks cannot multiply the work.
    let mut framing_bytes = 0usize;
    let broken = |e: LineError| match e {
        LineError::Io(e) => BodyError::Io(e),
        _ => BodyError::Malformed("bad chunk framing"),
    };
    loop {
        let line = read_line(reader, 1024).map_err(broken)?;
        framing_bytes += line.len() + 2;
        let size_text = line.split(';').next().unwrap_or_default().trim_matches([' ', '\t']);
        if size_text.is_empty() || size_text.len() > 16 || !size_text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BodyError::Malformed("bad chunk size"));
        }
        let size = usize::from_str_radix(size_text, 16).map_err(|_| BodyError::Malformed("bad chunk size"))?;
        if body.len().saturating_add(size).saturating_add(framing_bytes) > limit {
            return Err(BodyError::TooLarge);
        }
        if size == 0 {
            let mut trailers = 0usize;
            loop {
                let line = read_line(reader, MAX_TRAILER_BYTES).map_err(broken)?;
                if line.is_empty() {
                    return Ok(body);
                }
                trailers += line.len() + 2;
                if trailers > MAX_TRAILER_BYTES {
                    return Err(BodyError::TooLarge);
                }
            }
        }
        let start = body.len();
        reader.by_ref().take(size as u64).read_to_end(&mut body).map_err(BodyError::Io)?;
        if body.len() - start != size {
            return Err(BodyError::Malformed("the body ended inside a chunk"));
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(BodyError::Io)?;
        if &crlf != b"\r\n" {
            return Err(BodyError::Malformed("chunk not followed by CRLF"));
        }
    }
}

enum LineError {
    TooLong,
    Eof,
    NotText,
    Io(io::Error),
}

/// One line without its CRLF (or LF), at most `max` bytes.
fn read_line(reader: &mut Reader<'_>, max: usize) -> Result<String, LineError> {
    if max == 0 {
        return Err(LineError::TooLong);
    }
    let mut line = Vec::new();
    let read = reader.by_ref().take(max as u64 + 1).read_until(b'\n', &mut line).map_err(LineError::Io)?;
    if read == 0 {
        return Err(LineError::Eof);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max { LineError::TooLong } else { LineError::Eof });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| LineError::NotText)
}

/// Why a request head could not be read.
enum HeadError {
    /// The connection closed before a request began.
    Closed,
    TooLarge,
    Malformed(&'static str),
    Io,
}

/// Token characters (RFC 9110 §5.6.2), for methods and header names.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn read_head(reader: &mut Reader<'_>, max: usize) -> Result<Head, HeadError> {
    let mut budget = max;
    let mut next_line = |first: bool| -> Result<String, HeadError> {
        match read_line(reader, budget) {
            Ok(line) => {
                budget = budget.saturating_sub(line.len() + 2);
                Ok(line)
            }
            Err(LineError::TooLong) => Err(HeadError::TooLarge),
            Err(LineError::NotText) => Err(HeadError::Malformed("the request head is not text")),
            Err(LineError::Eof) if first => Err(HeadError::Closed),
            Err(LineError::Eof) => Err(HeadError::Malformed("connection closed inside the request head")),
            Err(LineError::Io(_)) => Err(HeadError::Io),
        }
    };
    let mut request_line = next_line(true)?;
    let mut empty_lines = 0;
    while request_line.is_empty() {
        empty_lines += 1;
        if empty_lines > MAX_LEADING_EMPTY_LINES {
            return Err(HeadError::Malformed("empty lines instead of a request"));
        }
        request_line = next_line(true)?;
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("bad request line"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HeadError::Malformed("unsupported HTTP version")),
    };
    if !is_token(method) || !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(HeadError::Malformed("bad request line"));
    }
    let mut headers = Vec::new();
    loop {
        let line = next_line(false)?;
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            return Err(HeadError::Malformed("obsolete header line folding"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Malformed("header without a colon"));
        };
        let value = value.trim_matches([' ', '\t']);
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(HeadError::Malformed("bad header"));
        }
        if headers.len() >= 200 {
            return Err(HeadError::TooLarge);
        }
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(Head { method: method.to_string(), target: target.to_string(), http11, headers })
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// How a response leaves the connection.
#[derive(Clone, Copy)]
enum After {
    /// Keep the connection for the next request; says how long it may idle.
    KeepAlive(Duration),
    Close,
}

/// Writes `response` (without its body for HEAD).
fn write_response(mut stream: &TcpStream, response: Response, after: After, head_only: bool) -> io::Result<()> {
    let code = response.status_code;
    let (mut data, _) = response.data.into_reader_and_size();
    let mut body = Vec::new();
    data.read_to_end(&mut body)?;
    let mut out = Vec::with_capacity(body.len() + 256);
    write!(out, "HTTP/1.1 {code} {}\r\n", reason(code))?;
    for (name, value) in &response.headers {
        let framing_header = ["Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        if framing_header {
            continue;
        }
        // Header names and values come from our own code; one that could break the head is a
        // bug, reported and left out rather than written.
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            log::error!("refusing to write a malformed response header {name:?}");
            continue;
        }
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(out, "Content-Length: {}\r\n", body.len())?;
    match after {
        After::KeepAlive(idle) => {
            write!(out, "Connection: keep-alive\r\nKeep-Alive: timeout={}\r\n\r\n", idle.as_secs())?
        }
        After::Close => out.extend_from_slice(b"Connection: close\r\n\r\n"),
    }
    if !head_only {
        out.extend_from_slice(&body);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// A short error answer written by the transport itself (before the application is reached).
fn transport_error(code: u16, message: &str) -> Response {
    let body = serde_json::json!({"method": null, "status": 1, "message": message, "data": {}});
    Response::from_data("application/json;charset=UTF-8", body.to_string()).with_status_code(code)
}

/// Closes a connection whose input may not be fully read: stop sending, then read and throw
/// away what the client is still sending, for a bounded time and size, so that it reads our
/// answer instead of meeting a reset.
fn close_gracefully(stream: &TcpStream, reader: &mut Reader<'_>, max_bytes: u64) {
    let _ = stream.shutdown(Shutdown::Write);
    set_deadline(reader, LINGER_TIME);
    let _ = io::copy(&mut reader.by_ref().take(max_bytes), &mut io::sink());
    let _ = stream.shutdown(Shutdown::Both);
}

/// Serves one connection until it closes, idles out, or a response must close it.
fn serve_connection(stream: TcpStream, peer: SocketAddr, limits: Limits, handler: &Handler, stopping: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.io_timeout));
    let stream = &stream;
    let mut reader = BufReader::with_capacity(16 * 1024, DeadlineReader { stream, deadline: Instant::now() });
    let linger_bytes = (limits.max_body_bytes as u64).saturating_mul(2);
    loop {
        // Waiting for the next request: the idle limit. Once it begins, the head's deadline.
        set_deadline(&mut reader, limits.idle_timeout);
        match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(_) => {}
        }
        set_deadline(&mut reader, limits.io_timeout);
        let refusal = match read_head(&mut reader, limits.max_head_bytes) {
            Ok(head) => {
                let mut body = Body { reader: &mut reader, stream, head: &head, limits, consumed: false };
                let response = handler(&head, peer, &mut body);
                let consumed = body.consumed;
                let keep_alive = head.keep_alive() && consumed && !stopping.load(Ordering::Relaxed);
                let after = if keep_alive { After::KeepAlive(limits.idle_timeout) } else { After::Close };
                let written = write_response(stream, response, after, head.method == "HEAD");
                if written.is_ok() && keep_alive {
                    continue;
                }
                // Whatever of the body is unread is read and thrown away, never parsed.
                close_gracefully(stream, &mut reader, if written.is_ok() { linger_bytes } else { 0 });
                return;
            }
            Err(HeadError::Closed | HeadError::Io) => return,
            Err(HeadError::TooLarge) => transport_error(431, "The request head is too large"),
            Err(HeadError::Malformed(why)) => transport_error(400, &format!("Malformed HTTP request: {why}")),
        };
        if write_response(stream, refusal, After::Close, false).is_ok() {
            close_gracefully(stream, &mut reader, linger_bytes);
        }
        return;
    }
}

/// The listening socket's descriptor while the accept loop runs, so [`wake`] can stop it
/// without opening a new descriptor (there may be none left).
pub type ListenerFd = Arc<Mutex<Option<RawFd>>>;

/// The descriptor of `listener`, to hand to [`accept_loop`] and [`wake`].
pub fn listener_fd(listener: &TcpListener) -> ListenerFd {
    Arc::new(Mutex::new(Some(listener.as_raw_fd())))
}

/// The accept loop. Returns `Ok` once `stopping` is set (and the listener woken), `Err` on an
/// accept failure that cannot be waited out. `fd` is `listener`'s, from [`listener_fd`].
pub fn accept_loop(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<Handler>,
    stopping: Arc<AtomicBool>,
    fd: ListenerFd,
) -> io::Result<()> {
    let result = accept_connections(&listener, limits, handler, &stopping);
    // Forget the descriptor before the listener (and its descriptor number) goes away.
    lock(&fd).take();
    drop(listener);
    result
}

fn accept_connections(
    listener: &TcpListener,
    limits: Limits,
    handler: Arc<Handler>,
    stopping: &Arc<AtomicBool>,
) -> io::Result<()> {
    let active = Arc::new(Connections::default());
    // A descriptor kept in reserve: when the process runs out, it is given back to accept (and
    // refuse) the connection waiting in the backlog, instead of leaving that client hanging.
    let mut reserve = File::open("/dev/null").ok();
    loop {
        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if stopping.load(Ordering::SeqCst) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                log::warn!("out of file descriptors: refusing new connections until some close ({e})");
                drop(reserve.take());
                if let Ok((stream, _)) = listener.accept() {
                    refuse(&stream, "The server is out of file descriptors; retry shortly");
                }
                reserve = File::open("/dev/null").ok();
                // Give open connections a moment to finish before trying again.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN)
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(slot) = Slot::take(&active, peer.ip(), limits) else {
            refuse(&stream, "Too many open connections; retry shortly");
            continue;
        };
        let (handler, stopping) = (Arc::clone(&handler), Arc::clone(stopping));
        let spawned = std::thread::Builder::new().name("portico-conn".into()).spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, limits, &*handler, &stopping);
        });
        if let Err(e) = spawned {
            log::warn!("cannot start a connection thread: {e}");
        }
    }
}

/// Answers 503 on the accepting thread and closes, without waiting for the client.
fn refuse(stream: &TcpStream, message: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = write_response(stream, transport_error(503, message), After::Close, false);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Open connections, in all and per client address.
#[derive(Default)]
struct Connections {
    total: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; gives its place back when dropped, however the thread ends.
struct Slot {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Slot {
    /// Takes a place for a connection from `address`, if the limits leave one.
    fn take(connections: &Arc<Connections>, address: IpAddr, limits: Limits) -> Option<Slot> {
        let mut by_address = lock(&connections.by_address);
        let from_address = by_address.get(&address).copied().unwrap_or(0);
        if connections.total.load(Ordering::SeqCst) >= limits.max_connections
            || from_address >= limits.max_connections_per_address
        {
            return None;
        }
        by_address.insert(address, from_address + 1);
        connections.total.fetch_add(1, Ordering::SeqCst);
        Some(Slot { connections: Arc::clone(connections), address })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_address = lock(&self.connections.by_address);
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.address);
            }
        }
        self.connections.total.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wakes an accept loop that must stop: shutting the listening socket down makes a blocked
/// `accept` return at once, and needs no new descriptor.
pub fn wake(fd: &ListenerFd) {
    if let Some(fd) = *lock(fd) {
        // SAFETY: the descriptor is the listener's, still open: the accept loop clears it
        // under this lock before the listener is dropped.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RD);
        }
    }
}
