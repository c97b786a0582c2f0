//! The HTTP/1.1 transport: one poller thread holds every connection that is waiting, a fixed
//! pool of handler threads serves complete requests.
//!
//! A connection costs a descriptor and, while a head is arriving, a buffer of what has come so
//! far; it costs no thread. The poller (`mio`, edge-triggered epoll) accepts, reads heads,
//! writes what a slow reader has not taken yet, lingers on closing connections, and closes
//! whatever passes its deadline. Only a connection whose head is complete (and whose body, when
//! it is small, has arrived as well) is handed to a handler thread, which authenticates, reads
//! a larger body if the application wants it, and answers. The thread count never grows with
//! connections; streaming answers (log follow) are meant to get a bounded set of their own.
//!
//! When the connection limits are reached, the connection that has been waiting longest (idle,
//! or sending a head) is closed to admit the new one, so nobody who merely holds sockets open
//! keeps anyone else out. Only when every connection is busy is a client refused with 503.
//! Running out of descriptors is survived with one held in reserve to answer 503.
//!
//! It knows nothing of routes or the Linkis envelope: [`Handler`] is the application.
//! Accepting and admission are in `transport/accept.rs`, the limits connections are held to
//! in `transport/limits.rs`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::admission::Admission;
use super::conn::{self, Conn, Next, Returned};
use super::incoming::{parse_ready, Scan};
use super::outgoing::{Outgoing, Progress, POLLER_BUDGET};
use super::response::Response;
use super::wire::{After, Head};

mod accept;
mod limits;
mod waiting;

pub use limits::Limits;

/// The application: answers one request whose head is complete. It may read the body through
/// [`conn::Body`]; if it does not, the connection closes after the answer.
pub type Handler = dyn Fn(Head, SocketAddr, &mut conn::Body<'_>) -> Response + Send + Sync;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;
/// How often deadlines are checked.
const SWEEP_EVERY: Duration = Duration::from_millis(200);

/// Where a held connection is in its life.
enum State {
    /// Waiting for the first byte of a request.
    Idle,
    /// A head (or a small body after it) is arriving.
    Head,
    /// With a handler thread.
    Busy,
    /// Writing what the socket did not take at once, then `next`.
    Writing(Box<Outgoing>, Next),
    /// Reading and discarding before closing.
    Lingering(u64),
}

struct Entry {
    /// `None` while a handler thread has the connection.
    conn: Option<Conn>,
    address: IpAddr,
    state: State,
    /// When the current wait began; the eviction order.
    since: Instant,
    deadline: Instant,
    scan: Scan,
}

/// What one accept-and-poll loop owns.
struct Poller {
    poll: Poll,
    listener: TcpListener,
    limits: Limits,
    entries: HashMap<usize, Entry>,
    admission: Admission,
    buffered: usize,
    next_token: usize,
    work: crate::sync::handoff::Sender<(Conn, Head)>,
    returns: Receiver<Returned>,
    reserve: Option<File>,
    /// Set while a wake-up for returned connections is on its way (see `conn::WakePoller`).
    wake_pending: Arc<AtomicBool>,
    scratch: Vec<u8>,
}

/// Runs the transport on `listener` until `stopping` is set and `waker` woken. Returns `Err`
/// on an accept failure that cannot be waited out.
pub fn run(
    listener: std::net::TcpListener,
    poll: Poll,
    limits: Limits,
    handler: Arc<Handler>,
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let (work, jobs) = crate::sync::handoff::channel::<(Conn, Head)>();
    let (returner, returns) = crossbeam_channel::unbounded::<Returned>();
    let wake_pending = Arc::new(AtomicBool::new(false));
    for _ in 0..limits.handler_threads.max(1) {
        let wake = conn::WakePoller { waker: Arc::clone(&waker), pending: Arc::clone(&wake_pending) };
        let (jobs, returner, handler, stopping) =
            (jobs.clone(), returner.clone(), Arc::clone(&handler), Arc::clone(&stopping));
        std::thread::Builder::new()
            .name("portico-http".into())
            .spawn(move || conn::handle_requests(&jobs, &returner, &*handler, &wake, &stopping, limits))?;
    }
    let mut poller = Poller {
        poll,
        listener,
        limits,
        entries: HashMap::new(),
        admission: Admission::new(limits.max_connections, limits.max_connections_per_address),
        buffered: 0,
        next_token: FIRST_CONNECTION,
        work,
        returns,
        wake_pending,
        reserve: File::open("/dev/null").ok(),
        scratch: vec![0; 16 * 1024],
    };
    poller.run(&stopping)
}

impl Poller {
    fn run(&mut self, stopping: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        loop {
            if stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            match self.poll.poll(&mut events, Some(SWEEP_EVERY)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept()?,
                    WAKER => {}
                    Token(token) => self.on_ready(token),
                }
            }
            // Cleared before draining: a connection returned after the drain wakes us again.
            self.wake_pending.store(false, Ordering::SeqCst);
            while let Ok(returned) = self.returns.try_recv() {
                self.take_back(returned);
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                self.sweep();
                // The listener is edge-triggered: after running out of descriptors, connections
                // left in the backlog raise no new event, so look again now and then.
                self.accept()?;
                last_sweep = Instant::now();
            }
        }
    }

    fn mark_evictable(&mut self, token: usize) {
        if let Some(entry) = self.entries.get(&token) {
            self.admission.waiting(token, entry.address, entry.since);
        }
    }

    fn unmark_evictable(&mut self, token: usize) {
        if let Some(entry) = self.entries.get(&token) {
            self.admission.not_waiting(token, entry.address, entry.since);
        }
    }

    fn close(&mut self, token: usize) {
        self.unmark_evictable(token);
        let Some(entry) = self.entries.remove(&token) else { return };
        if let Some(conn) = &entry.conn {
            self.buffered = self.buffered.saturating_sub(conn.buf.capacity());
            let fd = conn.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        }
        self.admission.closed(entry.address);
    }

    fn on_ready(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else { return };
        match entry.state {
            State::Idle | State::Head => self.read_head(token),
            State::Writing(ref out, _) if out.is_open_ended() => {
                self.discard_input(token);
                self.write_pending(token);
            }
            State::Writing(..) => self.write_pending(token),
            State::Lingering(_) => self.linger(token),
            State::Busy => {}
        }
    }

    /// Reads what has arrived of a head; hands the connection over once it is complete.
    fn read_head(&mut self, token: usize) {
        loop {
            let Some(entry) = self.entries.get_mut(&token) else { return };
            let Some(conn) = entry.conn.as_mut() else { return };
            match parse_ready(conn, &mut entry.scan, &self.limits) {
                Ok(Some(head)) => return self.hand_over(token, head),
                Ok(None) => {}
                Err(refusal) => return self.refuse_head(token, refusal),
            }
            let before = conn.buf.capacity();
            match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => return self.close(token),
                Ok(n) => {
                    conn.buf.extend_from_slice(&self.scratch[..n]);
                    self.buffered = self.buffered + conn.buf.capacity() - before;
                    if matches!(entry.state, State::Idle) {
                        self.start_head(token);
                    }
                    self.enforce_buffer_budget(token);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(token),
            }
        }
    }

    /// The first byte of a request has come: the head's deadline starts.
    fn start_head(&mut self, token: usize) {
        self.unmark_evictable(token);
        if let Some(entry) = self.entries.get_mut(&token) {
            entry.state = State::Head;
            entry.since = Instant::now();
            entry.deadline = entry.since + self.limits.io_timeout;
        }
        self.mark_evictable(token);
    }

    /// Partial heads share a budget; past it the longest-waiting are closed (never `keep`).
    fn enforce_buffer_budget(&mut self, keep: usize) {
        while self.buffered > self.limits.max_buffered_bytes {
            match self.admission.oldest_except(keep) {
                Some(victim) => self.close(victim),
                None => return,
            }
        }
    }

    fn hand_over(&mut self, token: usize, head: Head) {
        self.unmark_evictable(token);
        let Some(entry) = self.entries.get_mut(&token) else { return };
        let Some(conn) = entry.conn.take() else { return };
        self.buffered = self.buffered.saturating_sub(conn.buf.capacity());
        entry.state = State::Busy;
        if self.work.send((conn, head)).is_err() {
            self.close(token);
        }
    }

    fn refuse_head(&mut self, token: usize, refusal: Response) {
        self.unmark_evictable(token);
        let Some(entry) = self.entries.get_mut(&token) else { return };
        let out = Outgoing::new(refusal, After::Close, false, true, self.limits.io_timeout);
        entry.deadline = out.deadline;
        entry.state = State::Writing(Box::new(out), Next::Linger);
        self.write_pending(token);
    }

    fn take_back(&mut self, returned: Returned) {
        let Returned { conn, pending, next } = returned;
        let token = conn.token;
        let Some(entry) = self.entries.get_mut(&token) else { return };
        self.buffered += conn.buf.capacity();
        entry.conn = Some(conn);
        match pending {
            Some(out) => {
                entry.deadline = out.deadline;
                entry.state = State::Writing(Box::new(out), next);
                self.write_pending(token);
            }
            None => self.after_answer(token, next),
        }
    }

    fn after_answer(&mut self, token: usize, next: Next) {
        let Some(entry) = self.entries.get_mut(&token) else { return };
        match next {
            Next::Close => self.close(token),
            Next::Linger => {
                if let Some(conn) = &entry.conn {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                }
                entry.state = State::Lingering(self.limits.linger_bytes);
                entry.deadline = Instant::now() + self.limits.linger_time;
                self.linger(token);
            }
            Next::KeepAlive => {
                let now = Instant::now();
                entry.state = State::Idle;
                entry.since = now;
                entry.deadline = now + self.limits.idle_timeout;
                self.mark_evictable(token);
                // Edges that came while a handler had the connection were not seen: look now.
                self.read_head(token);
            }
        }
    }

    fn write_pending(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else { return };
        let (Some(conn), State::Writing(out, _)) = (&entry.conn, &mut entry.state) else { return };
        match out.write_some(&conn.stream, POLLER_BUDGET) {
            // Waiting: the source has nothing yet; the sweep asks it again (`ask_waiting`).
            Ok(Progress::Blocked | Progress::Waiting) => entry.deadline = out.deadline,
            Ok(Progress::Yielded) => {
                entry.deadline = out.deadline;
                // Edge-triggered epoll reports a socket that stayed writable only when asked
                // again: re-registering queues its next turn behind the events already waiting.
                let fd = conn.stream.as_raw_fd();
                let interest = Interest::READABLE | Interest::WRITABLE;
                if self.poll.registry().reregister(&mut SourceFd(&fd), Token(token), interest).is_err() {
                    self.close(token);
                }
            }
            Ok(Progress::Done) => {
                if let State::Writing(_, next) = std::mem::replace(&mut entry.state, State::Busy) {
                    self.after_answer(token, next);
                }
            }
            Err(_) => self.close(token),
        }
    }

    fn linger(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else { return };
        let (Some(conn), State::Lingering(budget)) = (&mut entry.conn, &mut entry.state) else { return };
        conn.buf = Vec::new();
        loop {
            match (&conn.stream).read(&mut self.scratch) {
                Ok(n) if n > 0 && (n as u64) < *budget => *budget -= n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return self.close(token),
            }
        }
    }

    /// Closes what has passed its deadline, after asking the streams whose source had nothing
    /// yet (followed logs) for more: each such ask is one positional read of a file, and
    /// while a stream waits its deadline keeps moving (it owes the client nothing).
    fn sweep(&mut self) {
        self.ask_waiting();
        let now = Instant::now();
        let expired: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, e)| !matches!(e.state, State::Busy) && e.deadline <= now)
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            self.close(token);
        }
    }
}
