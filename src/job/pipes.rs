//! A job's stdout and stderr on their way to its worker: one reader thread per pipe cuts the
//! bytes into lines and hands them over, holding at most [`BUDGET_BYTES`] of the job's output
//! in the server at once, whatever the job prints (a single line of gigabytes included).
//!
//! The bound is in bytes, not lines: a bound in lines (1,024 of up to 1 MiB) let one job that
//! printed without newlines hold up to a GiB of the server's memory while its worker caught up.
//! A reader takes bytes from the budget before it copies them out of the pipe, and they go back
//! when the worker has handled the line, so a job that prints faster than its worker writes
//! waits on its pipe, in the kernel. Nothing here knows what a line means.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::Sender;

use super::child::Event;
use crate::sync::lock;

/// Output lines longer than this are cut into several lines, so one line never costs more
/// memory than this.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Bytes of one job's output held between its pipes and its worker: lines being read, lines
/// waiting, and the line the worker is handling. Two whole lines, so the two readers can each
/// finish a line of [`MAX_LINE_BYTES`] while the worker is idle and never wait on each other.
pub const BUDGET_BYTES: usize = 2 * MAX_LINE_BYTES;

/// Events buffered between the readers and the worker, besides the byte budget: empty lines
/// cost no bytes of output, but each event costs a few words.
pub const EVENT_BUFFER: usize = 1024;

/// Which of a job's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A line of output (without its newline), holding its share of the budget until dropped.
pub struct Line {
    pub bytes: Vec<u8>,
    _charge: Charge,
}

/// Bytes taken from a job's budget, given back when dropped: however a line ends up (handled,
/// or dropped unread with the channel), its bytes go back.
struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut state = lock(&self.budget.state);
        state.held = state.held.saturating_sub(self.bytes);
        drop(state);
        self.budget.freed.notify_all();
    }
}

/// One job's output budget, shared by its two readers and its worker.
pub struct Budget {
    state: Mutex<BudgetState>,
    freed: Condvar,
}

struct BudgetState {
    held: usize,
    /// The worker no longer reads: readers stop instead of waiting for room.
    closed: bool,
}

impl Budget {
    pub fn new() -> Arc<Budget> {
        Arc::new(Budget { state: Mutex::new(BudgetState { held: 0, closed: false }), freed: Condvar::new() })
    }

    /// Waits until `bytes` fit, and takes them; `false` once the budget is closed.
    fn take(&self, bytes: usize) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return false;
            }
            // Nothing held: whatever is asked fits, so no request can wait forever.
            if state.held == 0 || state.held + bytes <= BUDGET_BYTES {
                state.held += bytes;
                return true;
            }
            state = self.freed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Stops the readers: the ones waiting for room, and the next ones to ask.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.freed.notify_all();
    }

    /// Bytes held now (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        lock(&self.state).held
    }
}

/// Closes the budget when dropped: the worker holds one for as long as it reads, so readers are
/// released however the run ends (a panic included).
pub struct CloseOnDrop(pub Arc<Budget>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Reads one stream into line events on its own thread, cutting lines at [`MAX_LINE_BYTES`].
pub fn spawn_reader<R: Read + Send + 'static>(stream: R, which: Stream, budget: Arc<Budget>, events: Sender<Event>) {
    let spawned = std::thread::Builder::new()
        .name("portico-pipe".into())
        .spawn(move || read_lines(stream, which, &budget, &events));
    if let Err(e) = spawned {
        log::error!("cannot start a pipe reader thread: {e}");
    }
}

fn read_lines<R: Read>(stream: R, which: Stream, budget: &Arc<Budget>, events: &Sender<Event>) {
    // Small enough that the reader's own buffer is a small part of what the job may cost.
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = Vec::new();
    let mut charged = 0usize;
    let send = |line: Vec<u8>, charged: usize| {
        let line = Line { bytes: line, _charge: Charge { budget: Arc::clone(budget), bytes: charged } };
        events.send(Event::Line(which, line)).is_ok()
    };
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let (taken, complete) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let take = taken.min(MAX_LINE_BYTES - line.len());
        if !budget.take(take) {
            return;
        }
        charged += take;
        line.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        if (complete && take == taken) || line.len() >= MAX_LINE_BYTES {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !send(std::mem::take(&mut line), std::mem::take(&mut charged)) {
                return;
            }
        }
    }
    if !line.is_empty() && !send(line, charged) {
        return;
    }
    let _ = events.send(Event::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `total` bytes without a newline: the reader never holds more than the
    /// budget, and goes on as lines are handled.
    #[test]
    fn a_reader_holds_no_more_than_the_budget() {
        let total = 10 * MAX_LINE_BYTES;
        let budget = Budget::new();
        let (tx, rx) = crossbeam_channel::bounded(EVENT_BUFFER);
        spawn_reader(io::repeat(b'x').take(total as u64), Stream::Stdout, Arc::clone(&budget), tx);
        let mut seen = 0;
        loop {
            assert!(budget.held() <= BUDGET_BYTES, "held {}", budget.held());
            match rx.recv().unwrap() {
                Event::Line(_, line) => {
                    assert_eq!(line.bytes.len(), MAX_LINE_BYTES);
                    seen += line.bytes.len();
                }
                Event::Closed => break,
                Event::Exited(_) => unreachable!(),
            }
        }
        assert_eq!(seen, total);
        assert_eq!(budget.held(), 0, "every line gave its bytes back");
    }

    #[test]
    fn closing_the_budget_releases_a_waiting_reader() {
        let budget = Budget::new();
        let (tx, rx) = crossbeam_channel::bounded(EVENT_BUFFER);
        spawn_reader(io::repeat(b'x'), Stream::Stderr, Arc::clone(&budget), tx);
        // Two full lines fill the budget; the reader then waits for room.
        let lines: Vec<Event> = (0..2).map(|_| rx.recv().unwrap()).collect();
        budget.close();
        drop(lines);
        // The reader ends: its side of the channel is dropped.
        while let Ok(event) = rx.recv() {
            assert!(matches!(event, Event::Line(..)), "no Closed: the stream did not end");
        }
    }
}
