//! What a handler answers: a status, headers and a body, plus whatever must stay held until
//! the body has left (a permit of a bounded resource, a temporary file).
//!
//! A body is either bytes already in memory (every JSON envelope: the transport writes head and
//! body in one vectored write, no copy) or a stream produced while it is written (downloads),
//! so that an answer of any size costs the server a fixed buffer, not its size. Both are
//! written on a deadline scaled to their size (`outgoing.rs`).

use std::any::Any;
use std::io::Read;

/// The body of an answer.
pub enum Body {
    Bytes(Vec<u8>),
    /// Read from `source` as the client takes it. With a `length` it is sent with a
    /// `Content-Length` and must yield exactly that many bytes; without, chunked (or, to an
    /// HTTP/1.0 client, until the connection closes).
    Stream {
        source: Box<dyn Read + Send>,
        length: Option<u64>,
    },
}

/// One HTTP answer.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Dropped once the body is written or the connection is given up: a permit counting a
    /// large answer lives until its bytes have left our memory.
    pub hold: Option<Box<dyn Any + Send>>,
    /// A streamed body whose end waits on events rather than on the client (a log being
    /// followed): its source may say "nothing yet" (`WouldBlock`), the connection closes after
    /// it, and what the client sends meanwhile is read and thrown away, so that a client that
    /// hangs up is noticed even while nothing is being written.
    pub open_ended: bool,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json;charset=UTF-8".into())],
            body: Body::Bytes(body),
            hold: None,
            open_ended: false,
        }
    }

    /// An answer produced while it is written, of `length` bytes when known.
    pub fn stream(status: u16, source: Box<dyn Read + Send>, length: Option<u64>) -> Response {
        Response { status, headers: Vec::new(), body: Body::Stream { source, length }, hold: None, open_ended: false }
    }

    /// An open-ended stream (see [`Response::open_ended`]): chunked, ended by its source.
    pub fn open_ended(status: u16, source: Box<dyn Read + Send>) -> Response {
        Response { open_ended: true, ..Response::stream(status, source, None) }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Keeps `hold` alive until this answer has been written.
    pub fn holding(mut self, hold: Box<dyn Any + Send>) -> Response {
        self.hold = Some(hold);
        self
    }

    /// The body's size when it is known before it is written.
    pub fn length(&self) -> Option<u64> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes.len() as u64),
            Body::Stream { length, .. } => *length,
        }
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("body_bytes", &self.length()).finish()
    }
}
