//! The HTTP/1.1 transport: accepting connections, reading requests within limits, writing
//! responses.
//!
//! This replaces tiny_http, whose 0.12 release (the latest) cannot be made safe here: when a
//! request body is left unread it drains the rest with `vec![0; remaining]`, so a single request
//! declaring a huge `Content-Length` aborts the whole process on the failed allocation; its
//! accept thread panics and stops for good when descriptors run out; and it never times out an
//! idle connection. Here:
//!
//! * every connection has its own thread, a bounded number of them (`max_connections`), and
//!   an idle keep-alive connection is closed after `idle_timeout`;
//! * the head of a request is read within a size limit and a time limit; the application
//!   decides from the head alone (authentication, declared size) whether the body is read at
//!   all, and a refused body is never read: the answer goes out and the connection is closed;
//! * running out of descriptors is survived: one descriptor is held in reserve, released to
//!   accept and refuse the waiting connection with 503, then taken back.
//!
//! It knows nothing of routes or the Linkis envelope; [`Handler`] is the application.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rouille::Response;

/// The limits a connection is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request head (request line and headers).
    pub max_head_bytes: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long any single read or write may block once a request has begun.
    pub io_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

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
    /// Not a valid HTTP body (bad chunk framing, both length and chunked…).
    Malformed(&'static str),
    /// The client went away or was too slow.
    Io(io::Error),
}

/// Reads the body of the request being handled, when the application asks for it.
pub struct Body<'a> {
    reader: &'a mut BufReader<TcpStream>,
    writer: &'a mut TcpStream,
    head: &'a Head,
    limit: usize,
    /// Set once the body has been read completely; otherwise the connection must close.
    consumed: bool,
    /// Set when reading the body failed part-way: what is left of it cannot be trusted.
    failed: bool,
}

impl Body<'_> {
    /// Reads the whole body (answering `Expect: 100-continue` first).
    pub fn read(&mut self) -> Result<Vec<u8>, BodyError> {
        let result = self.read_all();
        // A body refused for its declared size is intact, just unread; others are broken.
        self.failed = matches!(result, Err(BodyError::Malformed(_) | BodyError::Io(_)));
        result
    }

    fn read_all(&mut self) -> Result<Vec<u8>, BodyError> {
        let chunked =
            self.head.header("Transfer-Encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let length = declared_length(self.head)?;
        if chunked && length.is_some() {
            return Err(BodyError::Malformed("both Content-Length and chunked Transfer-Encoding"));
        }
        if length.is_some_and(|n| n > self.limit as u64) {
            return Err(BodyError::TooLarge);
        }
        if self.head.header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(BodyError::Io)?;
        }
        let body = if chunked {
            read_chunked(self.reader, self.limit)?
        } else {
            let length = length.unwrap_or(0) as usize;
            let mut body = vec![0u8; length];
            self.reader.read_exact(&mut body).map_err(BodyError::Io)?;
            body
        };
        self.consumed = true;
        Ok(body)
    }
}

/// The application: answers one request. It may call [`Body::read`]; if it does not (or the
/// read fails) the connection is closed after the answer, so an unread body is never drained.
pub type Handler = dyn Fn(&Head, SocketAddr, &mut Body<'_>) -> Response + Send + Sync;

/// The `Content-Length` header, if any; a malformed one is an error.
fn declared_length(head: &Head) -> Result<Option<u64>, BodyError> {
    match head.header("Content-Length") {
        None => Ok(None),
        Some(value) => value.trim().parse::<u64>().map(Some).map_err(|_| BodyError::Malformed("bad Content-Length")),
    }
}

/// Whether the request announces a body the application has not read yet.
fn has_body(head: &Head) -> bool {
    head.header("Transfer-Encoding").is_some() || declared_length(head).map_or(true, |n| n.unwrap_or(0) > 0)
}

fn read_chunked(reader: &mut BufReader<TcpStream>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, 1024).map_err(|e| match e {
            LineError::TooLong => BodyError::Malformed("chunk size line too long"),
            LineError::Io(e) => BodyError::Io(e),
            LineError::Eof => BodyError::Malformed("body ended inside a chunk"),
        })?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| BodyError::Malformed("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match read_line(reader, 8 * 1024) {
                    Ok(line) if line.is_empty() => return Ok(body),
                    Ok(_) => continue,
                    Err(LineError::Io(e)) => return Err(BodyError::Io(e)),
                    Err(_) => return Err(BodyError::Malformed("bad chunked trailer")),
                }
            }
        }
        if body.len().saturating_add(size) > limit {
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(BodyError::Io)?;
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
    Io(io::Error),
}

/// One line without its CRLF (or LF), at most `max` bytes.
fn read_line(reader: &mut BufReader<TcpStream>, max: usize) -> Result<String, LineError> {
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
    String::from_utf8(line).map_err(|_| LineError::Io(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")))
}

/// Why a request head could not be read.
enum HeadError {
    /// The connection closed (or idled out) cleanly before a request began.
    Closed,
    TooLarge,
    Malformed(&'static str),
    Io,
}

fn read_head(reader: &mut BufReader<TcpStream>, max: usize) -> Result<Head, HeadError> {
    let mut budget = max;
    let mut next_line = |first: bool| -> Result<String, HeadError> {
        match read_line(reader, budget) {
            Ok(line) => {
                budget = budget.saturating_sub(line.len() + 2);
                Ok(line)
            }
            Err(LineError::TooLong) => Err(HeadError::TooLarge),
            Err(LineError::Eof) if first => Err(HeadError::Closed),
            Err(LineError::Eof) => Err(HeadError::Malformed("connection closed inside the request head")),
            Err(LineError::Io(e)) if first && is_timeout(&e) => Err(HeadError::Closed),
            Err(LineError::Io(_)) => Err(HeadError::Io),
        }
    };
    let mut request_line = next_line(true)?;
    // Tolerate stray empty lines between pipelined requests (RFC 9112 §2.2).
    while request_line.is_empty() {
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
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
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
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(HeadError::Malformed("bad header name"));
        }
        if headers.len() >= 200 {
            return Err(HeadError::TooLarge);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head { method: method.to_string(), target: target.to_string(), http11, headers })
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes `response`; `keep_alive` says whether the connection stays open afterwards.
fn write_response(stream: &mut TcpStream, response: Response, keep_alive: bool, head_only: bool) -> io::Result<()> {
    let code = response.status_code;
    let (mut data, _) = response.data.into_reader_and_size();
    let mut body = Vec::new();
    data.read_to_end(&mut body)?;
    let mut out = Vec::with_capacity(body.len() + 256);
    write!(out, "HTTP/1.1 {code} {}\r\n", reason(code))?;
    for (name, value) in &response.headers {
        let skip = ["Content-Length", "Connection", "Transfer-Encoding"].iter().any(|h| name.eq_ignore_ascii_case(h));
        // Header values come from our own code; refuse to write one that could split the head.
        if skip || value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            continue;
        }
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(out, "Content-Length: {}\r\n", body.len())?;
    out.extend_from_slice(if keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" });
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

/// After refusing a body, reads and throws away what the client is still sending (up to
/// twice the body limit, within the I/O timeout per read, through a small fixed buffer), so a
/// client that uploads before it reads the answer sees the answer rather than a reset
/// connection. Bigger declared bodies are not waited for.
fn discard_unread_body(reader: &mut BufReader<TcpStream>, head: &Head, limits: Limits) {
    let budget = (limits.max_body_bytes as u64).saturating_mul(2);
    // Only a body of known length is waited for; a chunked one we did not read is cut off.
    let Some(declared) = declared_length(head).ok().flatten().filter(|n| *n <= budget) else {
        return;
    };
    if head.header("Transfer-Encoding").is_some() {
        return;
    }
    let _ = io::copy(&mut reader.by_ref().take(declared), &mut io::sink());
}

/// Serves one connection until it closes, idles out, or a response must close it.
fn serve_connection(stream: TcpStream, peer: SocketAddr, limits: Limits, handler: &Handler, stopping: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.io_timeout));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut writer = stream;
    let mut reader = BufReader::with_capacity(16 * 1024, read_half);
    loop {
        // Waiting for the next request: the idle limit. Once bytes arrive, the I/O limit.
        if writer.set_read_timeout(Some(limits.idle_timeout)).is_err() {
            return;
        }
        match reader.fill_buf() {
            Ok([]) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        if writer.set_read_timeout(Some(limits.io_timeout)).is_err() {
            return;
        }
        let head = match read_head(&mut reader, limits.max_head_bytes) {
            Ok(head) => head,
            Err(HeadError::Closed | HeadError::Io) => return,
            Err(HeadError::TooLarge) => {
                let refused = transport_error(431, "The request head is too large");
                let _ = write_response(&mut writer, refused, false, false);
                return;
            }
            Err(HeadError::Malformed(why)) => {
                let refused = transport_error(400, &format!("Malformed HTTP request: {why}"));
                let _ = write_response(&mut writer, refused, false, false);
                return;
            }
        };
        let mut body = Body {
            reader: &mut reader,
            writer: &mut writer,
            head: &head,
            limit: limits.max_body_bytes,
            consumed: false,
            failed: false,
        };
        let response = handler(&head, peer, &mut body);
        let (consumed, body_failed) = (body.consumed, body.failed);
        // A body left unread is never buffered: the connection closes after the answer.
        let unread_body = !consumed && has_body(&head);
        let keep_alive = head.keep_alive() && !unread_body && !stopping.load(Ordering::Relaxed);
        let head_only = head.method == "HEAD";
        if write_response(&mut writer, response, keep_alive, head_only).is_err() || !keep_alive {
            if unread_body && !body_failed {
                discard_unread_body(&mut reader, &head, limits);
            }
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The accept loop. Returns `Ok` once `stopping` is set (and the listener woken), `Err` on an
/// accept failure that cannot be waited out.
pub fn accept_loop(
    listener: &TcpListener,
    limits: Limits,
    handler: Arc<Handler>,
    stopping: Arc<AtomicBool>,
) -> io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    // A descriptor kept in reserve: when the process runs out, it is given back to accept (and
    // refuse) the connection waiting in the backlog, instead of leaving that client hanging.
    let mut reserve = File::open("/dev/null").ok();
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                log::warn!("out of file descriptors: refusing new connections until some close ({e})");
                drop(reserve.take());
                if let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let refused = transport_error(503, "The server is out of file descriptors; retry shortly");
                    let _ = write_response(&mut stream, refused, false, false);
                }
                reserve = File::open("/dev/null").ok();
                // Give connections a moment to finish before trying again.
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
        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        if active.load(Ordering::SeqCst) >= limits.max_connections {
            let mut stream = stream;
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let refused = transport_error(503, "Too many open connections; retry shortly");
            let _ = write_response(&mut stream, refused, false, false);
            continue;
        }
        let slot = Slot::take(&active);
        let (handler, stopping) = (Arc::clone(&handler), Arc::clone(&stopping));
        let spawned = std::thread::Builder::new().name("portico-conn".into()).spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, limits, &*handler, &stopping);
        });
        if let Err(e) = spawned {
            log::warn!("cannot start a connection thread: {e}");
        }
    }
}

/// One counted connection; gives its place back when dropped, however the thread ends.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wakes an accept loop blocked on `addr` so it can see that it must stop.
pub fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}
