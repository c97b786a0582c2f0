//! A job's stdout and stderr on their way to its worker: a [`Cutter`] per pipe cuts the bytes
//! its job's io thread (`job_io.rs`) reads into lines and hands them over, holding at most
//! [`BUDGET_BYTES`] of the job's output in the server at once, whatever the job prints (a
//! single line of gigabytes included).
//!
//! The bound is in bytes, not lines: a bound in lines (1,024 of up to 1 MiB) let one job that
//! printed without newlines hold up to a GiB of the server's memory while its worker caught up.
//! A cutter takes bytes from the budget before it copies them out of the read buffer, and they go back
//! when the worker has handled the line, so a job that prints faster than its worker writes
//! waits on its pipe, in the kernel. Lines go over in batches (every whole line a read brought,
//! one event, one charge): one event per line cost a channel hand-over and a wake-up each, which
//! was most of the server's CPU while a job printed 100-byte lines. Nothing here knows what a
//! line means.

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

    /// Whether the worker has stopped reading.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Bytes held now: lines read and not yet taken in by the worker.
    pub fn held(&self) -> usize {
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

/// One stream's bytes on their way to becoming lines: whole lines go to the worker as soon as
/// a read completes them, and the line being read stays, with its share of the budget.
pub struct Cutter {
    which: Stream,
    /// What was read and not sent yet: whole lines (ending at `ends`), then the line being read.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    charged: usize,
}

impl Cutter {
    pub fn new(which: Stream) -> Cutter {
        Cutter { which, bytes: Vec::new(), ends: Vec::new(), charged: 0 }
    }

    /// Takes `chunk` as read from the stream, cutting lines at [`MAX_LINE_BYTES`] and sending
    /// the whole ones; waits for room in the budget as it goes. `false` once the worker no
    /// longer listens (the budget is closed, or the channel is).
    pub fn feed(&mut self, mut chunk: &[u8], budget: &Arc<Budget>, events: &Sender<Event>) -> bool {
        while !chunk.is_empty() {
            // Never more than finishes the line being read at its longest: a stream waiting
            // for room then holds at most one unfinished line, and two streams fit the budget.
            let line_start = self.ends.last().copied().unwrap_or(0);
            let take = chunk.len().min(MAX_LINE_BYTES - (self.bytes.len() - line_start));
            if !budget.take(take) {
                return false;
            }
            self.charged += take;
            let from = self.bytes.len();
            self.bytes.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            self.ends.extend(memchr::memchr_iter(b'\n', &self.bytes[from..]).map(|i| from + i + 1));
            if self.bytes.len() - self.ends.last().copied().unwrap_or(0) >= MAX_LINE_BYTES {
                self.ends.push(self.bytes.len());
            }
            let Some(&whole) = self.ends.last() else { continue };
            // The unfinished line stays (a copy of at most one line; usually nothing or a few
            // bytes), with its share of the charge; the whole lines go.
            let unfinished = self.bytes.split_off(whole);
            let unfinished_charge = self.charged - whole;
            let lines = std::mem::replace(&mut self.bytes, unfinished);
            let ends = std::mem::take(&mut self.ends);
            if !self.send(lines, ends, whole, budget, events) {
                return false;
            }
            self.charged = unfinished_charge;
        }
        true
    }

    /// The stream ended: the last line, if it had no newline, goes too, then word that the
    /// stream is closed.
    pub fn finish(mut self, budget: &Arc<Budget>, events: &Sender<Event>) {
        if !self.bytes.is_empty() {
            let end = self.bytes.len();
            let (bytes, charged) = (std::mem::take(&mut self.bytes), self.charged);
            if !self.send(bytes, vec![end], charged, budget, events) {
                return;
            }
        }
        let _ = events.send(Event::Closed);
    }

    fn send(
        &self,
        bytes: Vec<u8>,
        ends: Vec<usize>,
        charged: usize,
        budget: &Arc<Budget>,
        events: &Sender<Event>,
    ) -> bool {
        let lines = Lines { bytes, ends, _charge: Charge { budget: Arc::clone(budget), bytes: charged } };
        events.send(Event::Lines(self.which, lines)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line a cutter hands over for `input`, fed in pieces of `piece` bytes.
    fn lines_of(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let budget = Budget::new();
        let mut cutter = Cutter::new(Stream::Stdout);
        for chunk in input.chunks(piece) {
            assert!(cutter.feed(chunk, &budget, &tx));
        }
        cutter.finish(&budget, &tx);
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

    #[test]
    fn a_closed_budget_stops_the_cutter_and_sent_lines_give_their_bytes_back() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let budget = Budget::new();
        let mut cutter = Cutter::new(Stream::Stderr);
        assert!(cutter.feed(b"one\ntwo\nthree", &budget, &tx));
        assert_eq!(budget.held(), "one\ntwo\nthree".len());
        budget.close();
        assert!(!cutter.feed(b" more", &budget, &tx), "a closed budget takes nothing");
        drop(rx);
        assert_eq!(budget.held(), "three".len(), "only the line being read is still charged");
    }
}
