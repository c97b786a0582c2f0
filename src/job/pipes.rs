//! A job's stdout and stderr on their way to its worker: one reader thread per pipe cuts the
//! bytes into lines and hands them over, holding at most [`BUDGET_BYTES`] of the job's output
//! in the server at once, whatever the job prints (a single line of gigabytes included).
//!
//! The bound is in bytes, not lines: a bound in lines (1,024 of up to 1 MiB) let one job that
//! printed without newlines hold up to a GiB of the server's memory while its worker caught up.
//! A reader takes bytes from the budget before it copies them out of the pipe, and they go back
//! when the worker has handled the line, so a job that prints faster than its worker writes
//! waits on its pipe, in the kernel. Lines go over in batches (every whole line a read brought,
//! one event, one charge): one event per line cost a channel hand-over and a wake-up each, which
//! was most of the server's CPU while a job printed 100-byte lines. Nothing here knows what a
//! line means.

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

/// Whole lines of output, in the order they were read, holding their share of the budget until
/// dropped.
pub struct Lines {
    bytes: Vec<u8>,
    /// Where each line ends in `bytes` (its newline included, when it had one).
    ends: Vec<usize>,
    _charge: Charge,
}

impl Lines {
    /// Each line without its newline (and carriage return).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| {
            let mut line = &self.bytes[start..end];
            if let Some(rest) = line.strip_suffix(b"\n") {
                line = rest;
            }
            if let Some(rest) = line.strip_suffix(b"\r") {
                line = rest;
            }
            line
        })
    }
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

/// Reads one stream into line events on a thread of its own while it lasts (one of
/// [`io_threads`](super::io_threads)), cutting lines at [`MAX_LINE_BYTES`].
pub fn spawn_reader<R: Read + Send + 'static>(stream: R, which: Stream, budget: Arc<Budget>, events: Sender<Event>) {
    if let Err(e) = super::io_threads::run(move || read_lines(stream, which, &budget, &events)) {
        log::error!("cannot start a pipe reader thread: {e}");
    }
}

fn read_lines<R: Read>(stream: R, which: Stream, budget: &Arc<Budget>, events: &Sender<Event>) {
    // Small enough that the reader's own buffer is a small part of what the job may cost.
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    // What was read and not sent yet: whole lines (ending at `ends`), then the line being read.
    let (mut bytes, mut ends, mut charged) = (Vec::new(), Vec::new(), 0usize);
    let send = |bytes: Vec<u8>, ends: Vec<usize>, charged: usize| {
        let lines = Lines { bytes, ends, _charge: Charge { budget: Arc::clone(budget), bytes: charged } };
        events.send(Event::Lines(which, lines)).is_ok()
    };
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // Never more than finishes the line being read at its longest: a reader waiting for
        // room then holds at most one unfinished line, and two readers fit in the budget.
        let line_start = ends.last().copied().unwrap_or(0);
        let take = chunk.len().min(MAX_LINE_BYTES - (bytes.len() - line_start));
        if !budget.take(take) {
            return;
        }
        charged += take;
        let from = bytes.len();
        bytes.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        ends.extend(memchr::memchr_iter(b'\n', &bytes[from..]).map(|i| from + i + 1));
        if bytes.len() - ends.last().copied().unwrap_or(0) >= MAX_LINE_BYTES {
            ends.push(bytes.len());
        }
        let Some(&whole) = ends.last() else { continue };
        // The unfinished line stays (a copy of at most one line; usually nothing or a few
        // bytes), with its share of the charge; the whole lines go.
        let unfinished = bytes.split_off(whole);
        let unfinished_charge = charged - whole;
        if !send(std::mem::replace(&mut bytes, unfinished), std::mem::take(&mut ends), whole) {
            return;
        }
        charged = unfinished_charge;
    }
    if !bytes.is_empty() {
        let end = bytes.len();
        if !send(bytes, vec![end], charged) {
            return;
        }
    }
    let _ = events.send(Event::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line the reader hands over for `input`, read in pieces of `piece` bytes.
    fn lines_of(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        read_lines(Pieces(input, piece), Stream::Stdout, &Budget::new(), &tx);
        let mut lines = Vec::new();
        while let Ok(event) = rx.try_recv() {
            match event {
                Event::Lines(_, batch) => lines.extend(batch.iter().map(<[u8]>::to_vec)),
                Event::Closed => return lines,
                Event::Exited(_) => unreachable!(),
            }
        }
        panic!("no Closed event");
    }

    #[test]
    fn lines_come_out_whole_however_the_reads_cut_them() {
        let input = b"one\ntwo\r\n\nthree without an end";
        let expected: Vec<Vec<u8>> =
            vec![b"one".to_vec(), b"two".to_vec(), Vec::new(), b"three without an end".to_vec()];
        for piece in [1, 2, 3, 5, 7, 64, 1 << 20] {
            assert_eq!(lines_of(input, piece), expected, "reads of {piece} bytes");
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_and_the_next_starts_clean() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = lines_of(&input, 64 * 1024);
        assert_eq!(lines.iter().map(Vec::len).collect::<Vec<_>>(), vec![MAX_LINE_BYTES, 10, 4]);
        assert_eq!(lines[2], b"next");
    }

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
                Event::Lines(_, lines) => {
                    for line in lines.iter() {
                        assert_eq!(line.len(), MAX_LINE_BYTES);
                        seen += line.len();
                    }
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
        assert!(lines.iter().all(|event| matches!(event, Event::Lines(_, lines) if lines.iter().count() == 1)));
        budget.close();
        drop(lines);
        // The reader ends: its side of the channel is dropped.
        while let Ok(event) = rx.recv() {
            assert!(matches!(event, Event::Lines(..)), "no Closed: the stream did not end");
        }
    }
}
