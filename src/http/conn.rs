//! One connection while a handler thread has it: reading its body on a deadline, writing the
//! answer without waiting on the client, and what the poller must do with it next.
//!
//! Sockets stay non-blocking for their whole life. A handler thread that must wait for body
//! bytes waits in `poll(2)` on that one socket with the time left before the body's deadline;
//! it never waits on a client to read an answer: whatever does not fit in the socket buffer
//! at once (`outgoing.rs`) goes back to the poller to be written as the client makes room.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::Waker;

use super::incoming::transport_error;
use super::outgoing::{Outgoing, Progress};
use super::transport::{Handler, Limits};
use super::wire::{self, After, BodyError, Framing, Head};

/// The slowest a body may arrive, beyond the base allowance: 16 KiB a second.
pub const MIN_BYTES_PER_SEC: u64 = 16 * 1024;

/// A client connection: its socket and what has been read from it but not yet used.
pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub token: usize,
    /// Bytes read from the socket and not consumed yet (the next head, or pipelined requests).
    pub buf: Vec<u8>,
}

/// Time allowed for `bytes` to cross the network: a base plus a minimum rate.
pub fn allowance(base: Duration, bytes: u64) -> Duration {
    base + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
}

/// Waits until `stream` is readable (or writable), at most until `deadline`.
fn wait_for(stream: &TcpStream, writable: bool, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "the client took too long"));
    }
    let events = if writable { libc::POLLOUT } else { libc::POLLIN };
    let mut fd = libc::pollfd { fd: stream.as_raw_fd(), events, revents: 0 };
    let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, for a descriptor this stream owns.
    let ready = unsafe { libc::poll(&mut fd, 1, millis) };
    match ready {
        n if n < 0 => {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(error)
            }
        }
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "the client took too long")),
        _ => Ok(()),
    }
}

/// Reads a connection's input (first what is buffered, then the socket) before a deadline,
/// keeping whatever it does not consume in the connection's buffer for the next request.
struct ConnReader<'a> {
    conn: &'a mut Conn,
    pos: usize,
    deadline: Instant,
}

impl BufRead for ConnReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.conn.buf.len() {
            self.conn.buf.clear();
            self.pos = 0;
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match (&self.conn.stream).read(&mut chunk) {
                    Ok(n) => {
                        self.conn.buf.extend_from_slice(&chunk[..n]);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait_for(&self.conn.stream, false, self.deadline)?
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.conn.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.conn.buf.len());
    }
}

impl Read for ConnReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Drop for ConnReader<'_> {
    fn drop(&mut self) {
        self.conn.buf.drain(..self.pos);
    }
}

/// The body of the request being handled, read only if the application asks for it.
pub struct Body<'a> {
    conn: &'a mut Conn,
    framing: Result<Framing, &'static str>,
    expects_continue: bool,
    io_timeout: Duration,
    /// Set once the body has been read completely; otherwise the connection must close.
    consumed: bool,
}

impl<'a> Body<'a> {
    pub fn new(conn: &'a mut Conn, head: &Head, io_timeout: Duration) -> Body<'a> {
        let framing = wire::framing(head).map_err(|e| match e {
            BodyError::Malformed(why) => why,
            _ => "bad framing",
        });
        Body { conn, framing, expects_continue: head.expects_continue(), io_timeout, consumed: false }
    }

    /// How the body is framed, as the head declares it.
    pub fn framing(&self) -> Result<Framing, BodyError> {
        self.framing.map_err(BodyError::Malformed)
    }

    /// Reads the whole body, at most `limit` bytes, answering `Expect: 100-continue` first.
    pub fn read(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let framing = self.framing()?;
        let expected = match framing {
            Framing::None => {
                self.consumed = true;
                return Ok(Vec::new());
            }
            Framing::Length(n) if n > limit as u64 => return Err(BodyError::TooLarge),
            Framing::Length(n) => n,
            Framing::Chunked => limit as u64,
        };
        let deadline = Instant::now() + allowance(self.io_timeout, expected);
        if self.expects_continue && (self.conn.buf.len() as u64) < expected {
            write_all_before(&self.conn.stream, b"HTTP/1.1 100 Continue\r\n\r\n", deadline).map_err(BodyError::Io)?;
        }
        let mut reader = ConnReader { conn: self.conn, pos: 0, deadline };
        let body = wire::read_body(&mut reader, framing, limit)?;
        self.consumed = true;
        Ok(body)
    }

    pub fn consumed(&self) -> bool {
        self.consumed
    }
}

/// Writes a small piece (a `100 Continue`) on a handler thread, before `deadline`.
fn write_all_before(mut stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(stream, true, deadline)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the poller does with a connection a handler gives back.
pub enum Next {
    /// Wait for the next request.
    KeepAlive,
    /// Close now: nothing unread, or the client is gone.
    Close,
    /// Close after reading and discarding what the client is still sending, so that it reads
    /// the answer rather than a reset.
    Linger,
}

/// A connection coming back from a handler thread.
pub struct Returned {
    pub conn: Conn,
    /// The part of the answer the socket did not take at once.
    pub pending: Option<Outgoing>,
    pub next: Next,
}

/// How handler threads tell the poller a connection is back. Under load many come back
/// between two turns of the poller; one wake-up covers them all, so only the first handler
/// to return one since the poller last looked pays the system call.
pub struct WakePoller {
    pub waker: Arc<Waker>,
    /// Set by the first handler that wakes the poller; cleared by the poller before it drains
    /// the returned connections.
    pub pending: Arc<AtomicBool>,
}

impl WakePoller {
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }
}

/// Bytes a handler thread writes of one answer before handing the rest to the poller.
const HANDLER_WRITE_BUDGET: usize = 1024 * 1024;

/// A handler thread: serves handed-over requests one at a time, and gives each connection back.
pub fn handle_requests(
    jobs: &crate::sync::handoff::Receiver<(Conn, Head)>,
    returner: &Sender<Returned>,
    handler: &Handler,
    waker: &WakePoller,
    stopping: &AtomicBool,
    limits: Limits,
) {
    while let Some((mut conn, head)) = jobs.recv() {
        let peer = conn.peer;
        let (wants_keep_alive, head_only, http11) = (head.keep_alive(), head.method == "HEAD", head.http11);
        let mut body = Body::new(&mut conn, &head, limits.io_timeout);
        // A panic is a bug; it costs its request a 500, never the thread or the connection.
        let response = panic::catch_unwind(AssertUnwindSafe(|| handler(head, peer, &mut body)))
            .unwrap_or_else(|_| transport_error(500, "The server failed to answer this request (a bug); it is logged"));
        let consumed = body.consumed();
        let keep_alive = wants_keep_alive && consumed && !response.open_ended && !stopping.load(Ordering::Relaxed);
        let idle = limits.idle_timeout.as_secs().max(1);
        let after = if keep_alive { After::KeepAlive(idle) } else { After::Close };
        let mut out = Outgoing::new(response, after, head_only, http11, limits.io_timeout);
        let next = match (keep_alive && !out.ends_with_connection(), consumed) {
            (true, _) => Next::KeepAlive,
            (false, true) => Next::Close,
            (false, false) => Next::Linger,
        };
        // Written here until the socket is full or a budget is spent; the rest of a long answer
        // goes on in the poller, under the whole-answer deadline, and this thread is free.
        let returned = match out.write_some(&conn.stream, HANDLER_WRITE_BUDGET) {
            Ok(Progress::Done) => Returned { conn, pending: None, next },
            // A source with nothing yet is never waited for here: the poller asks it again.
            Ok(Progress::Blocked | Progress::Yielded | Progress::Waiting) => {
                Returned { conn, pending: Some(out), next }
            }
            Err(_) => Returned { conn, pending: None, next: Next::Close },
        };
        if returner.send(returned).is_err() {
            return;
        }
        waker.wake();
    }
}
