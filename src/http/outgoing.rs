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
    started: Instant,
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
        let Response { status, headers, body, hold } = response;
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
        let started = Instant::now();
        let mut out =
            Outgoing { head, body, written: 0, ends_connection, started, io_timeout, deadline: started, hold };
        out.extend_deadline();
        out
    }

    /// Whether the connection must close after this answer (its end is the connection's).
    pub fn ends_with_connection(&self) -> bool {
        self.ends_connection
    }

    /// The deadline for what is known of the answer so far.
    fn extend_deadline(&mut self) {
        let body = match &self.body {
            OutBody::Bytes(bytes) => bytes.len() as u64,
            OutBody::Stream(s) => match s.delimited {
                Delimited::Length(n) => n,
                _ => s.produced,
            },
        };
        self.deadline = self.started + allowance(self.io_timeout, self.head.len() as u64 + body);
    }

    /// Writes as much as the socket takes now, producing at most `budget` bytes of a streamed
    /// body. An error means the connection must close: the client is gone, or the stream's
    /// source failed after the head had promised a body.
    pub fn write_some(&mut self, mut socket: &TcpStream, budget: usize) -> io::Result<Progress> {
        let mut spent = 0usize;
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
                    spent += s.refill().inspect_err(|e| log::warn!("a streamed answer stopped half-way: {e}"))?;
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
            let n = read_retrying(&mut *self.source, &mut self.buf[prefix..])?;
            self.buf.truncate(prefix + n);
            n
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
mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::http::wire::{read_body, Framing};

    /// A connected pair on loopback: the server's end non-blocking, as the transport keeps it.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (server, client)
    }

    /// Reads a whole answer: its head, and its body as the head frames it.
    fn read_answer(client: TcpStream) -> (String, Vec<u8>) {
        let mut reader = BufReader::new(client);
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            reader.read_line(&mut head).unwrap();
        }
        let body = if head.contains("chunked") {
            read_body(&mut reader, Framing::Chunked, 1 << 30).unwrap()
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).unwrap();
            body
        };
        (head, body)
    }

    fn stream(bytes: u64, length: Option<u64>) -> Response {
        Response::stream(200, Box::new(io::repeat(b'x').take(bytes)), length)
    }

    /// Writes `out` as the poller would: a budget per turn, waiting for room when blocked.
    fn drive(mut out: Outgoing, server: &TcpStream) -> (io::Result<()>, usize) {
        let mut yields = 0;
        loop {
            match out.write_some(server, POLLER_BUDGET) {
                Ok(Progress::Done) => return (Ok(()), yields),
                Ok(Progress::Yielded) => yields += 1,
                Ok(Progress::Blocked) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return (Err(e), yields),
            }
        }
    }

    #[test]
    fn a_stream_of_unknown_size_is_chunked_and_yields_to_others() {
        let (server, client) = pair();
        let reader = std::thread::spawn(move || read_answer(client));
        let out = Outgoing::new(stream(3 << 20, None), After::Close, false, true, Duration::from_secs(30));
        let (result, yields) = drive(out, &server);
        result.unwrap();
        drop(server);
        let (head, body) = reader.join().unwrap();
        assert!(head.contains("Transfer-Encoding: chunked") && !head.contains("Content-Length"), "{head}");
        assert_eq!(body.len(), 3 << 20);
        assert!(body.iter().all(|b| *b == b'x'));
        assert!(yields >= 1, "3 MiB is more than one turn's budget");
    }

    #[test]
    fn a_stream_of_known_size_says_so_and_must_keep_its_word() {
        let (server, client) = pair();
        let reader = std::thread::spawn(move || read_answer(client));
        let out = Outgoing::new(stream(100_000, Some(100_000)), After::Close, false, true, Duration::from_secs(30));
        drive(out, &server).0.unwrap();
        drop(server);
        let (head, body) = reader.join().unwrap();
        assert!(head.contains("Content-Length: 100000\r\n"), "{head}");
        assert_eq!(body.len(), 100_000);

        let (server, _client) = pair();
        let short = Outgoing::new(stream(10, Some(100)), After::Close, false, true, Duration::from_secs(30));
        assert_eq!(drive(short, &server).0.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_http10_client_reads_a_stream_until_the_connection_closes() {
        let (server, client) = pair();
        let reader = std::thread::spawn(move || read_answer(client));
        let out = Outgoing::new(stream(70_000, None), After::KeepAlive(60), false, false, Duration::from_secs(30));
        assert!(out.ends_with_connection());
        drive(out, &server).0.unwrap();
        drop(server);
        let (head, body) = reader.join().unwrap();
        assert!(head.ends_with("Connection: close\r\n\r\n") && !head.contains("chunked"), "{head}");
        assert_eq!(body.len(), 70_000);
    }

    #[test]
    fn the_deadline_of_a_stream_grows_with_what_it_has_produced() {
        let (server, _client) = pair();
        // Nobody reads: the socket fills, and the deadline covers only what was produced.
        let mut out = Outgoing::new(stream(1 << 30, None), After::Close, false, true, Duration::ZERO);
        let first = out.deadline;
        loop {
            match out.write_some(&server, POLLER_BUDGET).unwrap() {
                Progress::Yielded => continue,
                Progress::Blocked => break,
                Progress::Done => panic!("a gigabyte cannot fit in a socket buffer"),
            }
        }
        let OutBody::Stream(s) = &out.body else { panic!("a stream") };
        let allowed = out.deadline - out.started;
        assert!(out.deadline > first && s.produced > 0);
        assert_eq!(allowed, allowance(Duration::ZERO, out.head.len() as u64 + s.produced));
        assert!(s.produced < 64 << 20, "production stops when the client stops taking");
    }

    #[test]
    fn a_head_answer_keeps_the_heads_word_about_the_connection() {
        // HTTP/1.0 and a body of unknown length: the head says the connection ends with it,
        // and so it must, though a HEAD answer sends no body.
        let stream = || Response::stream(200, Box::new(std::io::Cursor::new(b"abc".to_vec())), None);
        let keep = After::KeepAlive(60);
        let head_only = Outgoing::new(stream(), keep, true, false, Duration::from_secs(1));
        assert!(String::from_utf8_lossy(&head_only.head).contains("Connection: close"));
        assert!(head_only.ends_with_connection());
        assert!(Outgoing::new(stream(), keep, false, false, Duration::from_secs(1)).ends_with_connection());
        assert!(!Outgoing::new(stream(), keep, true, true, Duration::from_secs(1)).ends_with_connection());
    }
}
