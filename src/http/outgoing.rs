//! An answer on its way out: written as far as the socket takes it, never waiting for the
//! client, on a deadline for the whole answer.
//!
//! A body in memory goes out with its head in one vectored write. A streamed body is produced
//! a chunk at a time, only when the socket has room for it, so the server holds one chunk per
//! answer whatever the answer's size. The deadline is the transport's rule for every answer,
//! a base allowance plus one second per 16 KiB; for a body whose size is not known in advance
//! it grows with what has been produced, which is never far ahead of what the client has taken,
//! so a client reading slower than 16 KiB/s is cut off all the same.
//!
//! A handler thread writes until the socket is full; the poller, which serves every other
//! connection too, produces at most [`POLLER_BUDGET`] bytes per turn and then yields.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::conn::allowance;
use super::response::{Body, Response};
use super::wire::{self, After, Delimited, CHUNK_PREFIX, LAST_CHUNK};

/// Bytes of a streamed body produced per refill.
const CHUNK_BYTES: usize = 64 * 1024;

/// Bytes the poller produces for one answer before it serves the others again.
pub const POLLER_BUDGET: usize = 256 * 1024;

/// How far a call to [`Outgoing::write_some`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Everything is out.
    Done,
    /// The socket is full: wait until it is writable again.
    Blocked,
    /// The budget is spent while the socket could take more: call again soon.
    Yielded,
    /// Everything produced so far is out and the source has nothing more yet (a log being
    /// followed): call again later; the client is not behind, so no deadline runs against it.
    Waiting,
}

/// An answer being written: its head, its body, how far it got, and what holds until it is out.
pub struct Outgoing {
    head: Vec<u8>,
    body: OutBody,
    /// Bytes of the head (and, for a body in memory, of the body) written so far.
    written: usize,
    /// The head said the connection ends with this answer (a body delimited by the close),
    /// decided once, with the head: a HEAD answer keeps the head's word though it sends no body.
    ends_connection: bool,
    /// When the deadline's clock started: the answer's start, or the last time the client had
    /// taken everything and the source had nothing more (time spent waiting on the source is
    /// the server's, not the client's).
    clock_from: Instant,
    /// Bytes (head and body) sent before `clock_from`: the client has already taken them.
    taken_before: u64,
    /// The source said "nothing yet" at the last call, with everything before it written.
    waiting: bool,
    /// The body's end waits on events, not on the client (see [`Response::open_ended`]).
    open_ended: bool,
    /// Bytes the client sent during an open-ended answer, read and thrown away.
    pub discarded: u64,
    io_timeout: Duration,
    pub deadline: Instant,
    /// Never read: dropping it, when the answer is out or given up, releases what it holds.
    #[allow(dead_code)]
    hold: Option<Box<dyn std::any::Any + Send>>,
}

enum OutBody {
    Bytes(Vec<u8>),
    Stream(Stream),
}

/// A body produced while it is written.
struct Stream {
    source: Box<dyn Read + Send>,
    delimited: Delimited,
    /// Bytes a `Content-Length` body still owes.
    owed: u64,
    /// The framed bytes to write next, from `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// Bytes produced so far, framing included: what the deadline allows time for.
    produced: u64,
    ended: bool,
}

impl Outgoing {
    /// The answer as it will be written; `head_only` for HEAD requests. A body of unknown
    /// size is chunked for an HTTP/1.1 client and ends with the connection for HTTP/1.0.
    pub fn new(response: Response, after: After, head_only: bool, http11: bool, io_timeout: Duration) -> Outgoing {
        let Response { status, headers, body, hold, open_ended } = response;
        let (head, body) = match body {
            Body::Bytes(bytes) => {
                let head = wire::response_head(status, &headers, Delimited::Length(bytes.len() as u64), after);
                (head, OutBody::Bytes(bytes))
            }
            Body::Stream { source, length } => {
                let delimited = match length {
                    Some(n) => Delimited::Length(n),
                    None if http11 => Delimited::Chunked,
                    None => Delimited::UntilClose,
                };
                let head = wire::response_head(status, &headers, delimited, after);
                let owed = length.unwrap_or(0);
                let stream = Stream { source, delimited, owed, buf: Vec::new(), pos: 0, produced: 0, ended: false };
                (head, OutBody::Stream(stream))
            }
        };
        let ends_connection = matches!(&body, OutBody::Stream(s) if s.delimited == Delimited::UntilClose);
        let body = if head_only { OutBody::Bytes(Vec::new()) } else { body };
        let now = Instant::now();
        let mut out = Outgoing {
            head,
            body,
            written: 0,
            ends_connection,
            clock_from: now,
            taken_before: 0,
            waiting: false,
            open_ended,
            discarded: 0,
            io_timeout,
            deadline: now,
            hold,
        };
        out.extend_deadline();
        out
    }

    /// Whether the connection must close after this answer (its end is the connection's).
    pub fn ends_with_connection(&self) -> bool {
        self.ends_connection
    }

    /// Whether the source said "nothing yet" at the last call (see [`Progress::Waiting`]).
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Whether the answer's end waits on events (a followed log) rather than on the client.
    pub fn is_open_ended(&self) -> bool {
        self.open_ended
    }

    /// Bytes of the answer (head and body) known so far.
    fn known_bytes(&self) -> u64 {
        let body = match &self.body {
            OutBody::Bytes(bytes) => bytes.len() as u64,
            OutBody::Stream(s) => match s.delimited {
                Delimited::Length(n) => n,
                _ => s.produced,
            },
        };
        self.head.len() as u64 + body
    }

    /// The deadline for what is known of the answer so far and not yet taken when the clock
    /// last started.
    fn extend_deadline(&mut self) {
        let owed = self.known_bytes().saturating_sub(self.taken_before);
        self.deadline = self.clock_from + allowance(self.io_timeout, owed);
    }

    /// The client has taken everything produced and the source has nothing more: the clock
    /// starts again from now, so an open-ended answer is held to the rate at which the client
    /// takes what there is, never to how long the source takes to have more.
    fn restart_clock(&mut self) {
        self.clock_from = Instant::now();
        self.taken_before = self.known_bytes();
        self.extend_deadline();
    }

    /// Writes as much as the socket takes now, producing at most `budget` bytes of a streamed
    /// body. An error means the connection must close: the client is gone, or the stream's
    /// source failed after the head had promised a body.
    pub fn write_some(&mut self, mut socket: &TcpStream, budget: usize) -> io::Result<Progress> {
        let mut spent = 0usize;
        self.waiting = false;
        loop {
            let (first, second): (&[u8], &[u8]) = match &mut self.body {
                OutBody::Bytes(body) if self.written < self.head.len() => (&self.head[self.written..], body),
                OutBody::Bytes(body) => match body.get(self.written - self.head.len()..) {
                    Some(rest) if !rest.is_empty() => (rest, &[]),
                    _ => return Ok(Progress::Done),
                },
                OutBody::Stream(_) if self.written < self.head.len() => (&self.head[self.written..], &[]),
                OutBody::Stream(s) if s.pos < s.buf.len() => (&s.buf[s.pos..], &[]),
                OutBody::Stream(s) if s.ended => return Ok(Progress::Done),
                OutBody::Stream(_) if spent >= budget => return Ok(Progress::Yielded),
                OutBody::Stream(s) => {
                    match s.refill() {
                        Ok(n) => spent += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.waiting = true;
                            self.restart_clock();
                            return Ok(Progress::Waiting);
                        }
                        Err(e) => {
                            log::warn!("a streamed answer stopped half-way: {e}");
                            return Err(e);
                        }
                    }
                    self.extend_deadline();
                    continue;
                }
            };
            match socket.write_vectored(&[IoSlice::new(first), IoSlice::new(second)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Counts `n` bytes as written.
    fn advance(&mut self, n: usize) {
        match &mut self.body {
            OutBody::Stream(s) if self.written >= self.head.len() => s.pos += n,
            _ => self.written += n,
        }
    }
}

impl Stream {
    /// Produces the next chunk into `buf`; returns how many bytes it produced.
    fn refill(&mut self) -> io::Result<usize> {
        self.buf.clear();
        self.pos = 0;
        let want = match self.delimited {
            Delimited::Length(_) => CHUNK_BYTES.min(usize::try_from(self.owed).unwrap_or(usize::MAX)),
            _ => CHUNK_BYTES,
        };
        let prefix = if self.delimited == Delimited::Chunked { CHUNK_PREFIX } else { 0 };
        let n = if want == 0 {
            0
        } else {
            self.buf.resize(prefix + want, 0);
            match read_retrying(&mut *self.source, &mut self.buf[prefix..]) {
                Ok(n) => {
                    self.buf.truncate(prefix + n);
                    n
                }
                Err(e) => {
                    // Nothing of this refill may go out: a "nothing yet" is retried later.
                    self.buf.clear();
                    return Err(e);
                }
            }
        };
        match self.delimited {
            Delimited::Length(_) if n == 0 && self.owed > 0 => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the source ended before its stated length"));
            }
            Delimited::Length(_) => {
                self.owed -= n as u64;
                self.ended = self.owed == 0;
            }
            Delimited::Chunked if n == 0 => {
                self.buf.clear();
                self.buf.extend_from_slice(LAST_CHUNK);
                self.ended = true;
            }
            Delimited::Chunked => self.pos = wire::frame_chunk(&mut self.buf),
            Delimited::UntilClose => self.ended = n == 0,
        }
        let produced = self.buf.len() - self.pos;
        self.produced += produced as u64;
        Ok(produced)
    }
}

fn read_retrying(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
