//! HTTP/1.1 on the wire, without sockets: request heads (parsed by `httparse`), body framing,
//! chunked bodies, and response heads.
//!
//! Everything here works on byte slices or any `BufRead`, so it is tested without a socket.
//! The policy that needs a socket or a clock (deadlines, when to read a body, lingering) lives
//! in `transport.rs` and `conn.rs`; this file only says what the bytes mean, strictly: anything
//! a proxy in front could read differently (request smuggling) is refused, never guessed at.

use std::io::{self, BufRead, Read};

/// Most headers one request may carry.
const MAX_HEADERS: usize = 100;

/// Trailer bytes accepted after a chunked body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Longest chunk-size line (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 1024;

/// A parsed request line and headers.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub target: String,
    /// HTTP/1.0 (`false`) or HTTP/1.1 (`true`).
    pub http11: bool,
    /// Header values that are not UTF-8 are kept lossily: such a value matches no token,
    /// cookie or setting, which is all that a client sending one can expect.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// Whether the client wants the connection kept open after this request.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers_named("Connection").flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.http11 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.http11 && self.header("Expect").is_some_and(|e| e.trim().eq_ignore_ascii_case("100-continue"))
    }
}

/// Why a request head was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Larger than the head limit, or too many headers: 431.
    TooLarge,
    /// Not a request we will read: 400.
    Malformed(&'static str),
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete (read more, unless
/// `buf` already holds `max` bytes: then it is too large), `Ok(Some((head, length)))` once
/// complete, where `length` is the head's size in bytes including the blank line.
pub fn parse_head(buf: &[u8], max: usize) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let window = &buf[..buf.len().min(max)];
    let length = match request.parse(window) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if window.len() >= max => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => return Err(HeadError::Malformed("unsupported HTTP version")),
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
            return Err(HeadError::Malformed("bad header"))
        }
        Err(_) => return Err(HeadError::Malformed("bad request line")),
    };
    let (Some(method), Some(target), Some(version)) = (request.method, request.path, request.version) else {
        return Err(HeadError::Malformed("bad request line"));
    };
    if !target.starts_with('/') {
        return Err(HeadError::Malformed("the request target must be a path"));
    }
    let headers =
        request.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
    let head = Head { method: method.to_string(), target: target.to_string(), http11: version == 1, headers };
    Ok(Some((head, length)))
}

/// How a request's body is framed, decided from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit (declared or as sent).
    TooLarge,
    /// Not a valid HTTP body (bad or conflicting framing).
    Malformed(&'static str),
    /// The client went away or was too slow.
    Io(io::Error),
}

/// The framing of a request, strictly: one agreed `Content-Length` of digits, or exactly one
/// `Transfer-Encoding: chunked` on HTTP/1.1, never both.
pub fn framing(head: &Head) -> Result<Framing, BodyError> {
    let encodings: Vec<&str> = head.headers_named("Transfer-Encoding").collect();
    let mut length = None;
    for value in head.headers_named("Content-Length").flat_map(|v| v.split(',')) {
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
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

/// Reads a whole body of `framing` from `reader`, at most `limit` bytes. Memory grows with what
/// arrives, so a declared size costs nothing until it is sent.
pub fn read_body(reader: &mut impl BufRead, framing: Framing, limit: usize) -> Result<Vec<u8>, BodyError> {
    match framing {
        Framing::None => Ok(Vec::new()),
        Framing::Length(n) if n > limit as u64 => Err(BodyError::TooLarge),
        Framing::Length(n) => {
            let mut body = Vec::new();
            reader.take(n).read_to_end(&mut body).map_err(BodyError::Io)?;
            if body.len() as u64 != n {
                return Err(BodyError::Malformed("the body ended early"));
            }
            Ok(body)
        }
        Framing::Chunked => read_chunked(reader, limit),
    }
}

/// A chunked body; every framing byte counts against `limit`, so tiny chunks cannot multiply
/// the work.
fn read_chunked(reader: &mut impl BufRead, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    let mut framing_bytes = 0usize;
    loop {
        let mut line = read_line(reader, MAX_CHUNK_LINE)?;
        framing_bytes += line.len();
        if !line.ends_with(b"\r\n") {
            // A bare LF ends the line for us; httparse wants the CRLF form.
            line.pop();
            line.extend_from_slice(b"\r\n");
        }
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => return Err(BodyError::Malformed("bad chunk size")),
        };
        let size = usize::try_from(size).map_err(|_| BodyError::TooLarge)?;
        if body.len().saturating_add(size).saturating_add(framing_bytes) > limit {
            return Err(BodyError::TooLarge);
        }
        if size == 0 {
            let mut trailers = 0usize;
            loop {
                let line = read_line(reader, MAX_TRAILER_BYTES)?;
                if line == b"\r\n" || line == b"\n" {
                    return Ok(body);
                }
                trailers += line.len();
                if trailers > MAX_TRAILER_BYTES {
                    return Err(BodyError::TooLarge);
                }
            }
        }
        let start = body.len();
        reader.take(size as u64).read_to_end(&mut body).map_err(BodyError::Io)?;
        if body.len() - start != size {
            return Err(BodyError::Malformed("the body ended inside a chunk"));
        }
        let mut end = [0u8; 2];
        reader.read_exact(&mut end).map_err(BodyError::Io)?;
        if &end != b"\r\n" {
            return Err(BodyError::Malformed("chunk not followed by CRLF"));
        }
        framing_bytes += 2;
    }
}

/// One line including its LF, at most `max` bytes.
fn read_line(reader: &mut impl BufRead, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut line = Vec::new();
    reader.take(max as u64).read_until(b'\n', &mut line).map_err(BodyError::Io)?;
    match line.last() {
        Some(b'\n') => Ok(line),
        _ if line.len() >= max => Err(BodyError::Malformed("bad chunk framing: line too long")),
        _ => Err(BodyError::Malformed("the body ended inside its chunk framing")),
    }
}

/// What follows a response on its connection.
#[derive(Clone, Copy, Debug)]
pub enum After {
    /// Keep the connection for the next request; says how long it may idle, in seconds.
    KeepAlive(u64),
    Close,
}

/// Headers the transport writes itself; an application's copies are left out.
const FRAMING_HEADERS: [&str; 4] = ["Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive"];

/// How a response's body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimited {
    /// `Content-Length`: the size is known before the first byte.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1): produced while it is sent, size unknown.
    Chunked,
    /// Size unknown and the client speaks HTTP/1.0: the end of the body is the end of the
    /// connection (the head says `Connection: close`).
    UntilClose,
}

/// The head of a response whose body is `delimited` so; `after` says what the connection does
/// next (a body delimited by closing always closes).
pub fn response_head(status: u16, headers: &[(String, String)], delimited: Delimited, after: After) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(256);
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        if FRAMING_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            continue;
        }
        // Header names and values come from our own code; one that could break the head is a
        // bug, reported and left out rather than written.
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            log::error!("refusing to write a malformed response header {:?}", crate::logging::shown(name));
            continue;
        }
        let _ = write!(out, "{name}: {value}\r\n");
    }
    match delimited {
        Delimited::Length(length) => {
            let _ = write!(out, "Content-Length: {length}\r\n");
        }
        Delimited::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Delimited::UntilClose => {}
    }
    match after {
        After::KeepAlive(idle) if delimited != Delimited::UntilClose => {
            let _ = write!(out, "Connection: keep-alive\r\nKeep-Alive: timeout={idle}\r\n\r\n");
        }
        _ => out.extend_from_slice(b"Connection: close\r\n\r\n"),
    }
    out
}

/// Room kept before a chunk's data for its size line (a `usize` in hex and CRLF).
pub const CHUNK_PREFIX: usize = 18;

/// The chunk that ends a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Frames the chunk whose data fills `buf[CHUNK_PREFIX..]`: writes its size line just before
/// the data and CRLF after it, and returns where the framed chunk starts in `buf`.
pub fn frame_chunk(buf: &mut Vec<u8>) -> usize {
    let len = buf.len().saturating_sub(CHUNK_PREFIX);
    let line = format!("{len:x}\r\n");
    let start = CHUNK_PREFIX - line.len();
    buf[start..CHUNK_PREFIX].copy_from_slice(line.as_bytes());
    buf.extend_from_slice(b"\r\n");
    start
}

/// Token characters (RFC 9110 §5.6.2), for header names.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
