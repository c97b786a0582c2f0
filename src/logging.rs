//! The server log: lines formatted by simplelog, written by one thread of their own, and the
//! rules that keep what clients send from inflating it.
//!
//! A request thread never writes to stderr: it formats its line and hands it to a bounded
//! channel with `try_send`, so a slow terminal or pipe costs a dropped line (counted, and said
//! when the writer catches up), never a blocked request. The writer batches whatever is queued
//! into one buffered write, then rests for [`GATHER`] so that lines coming meanwhile go out
//! together: woken for each line (an access line per request, a few per job) it cost a thread
//! hand-over per line.  [`flush`] writes out what is queued before the process exits. Client-supplied text (user names, paths, header values) goes
//! through [`shown`], and repeated lines about failed authentication through [`Limiter`].
//! This module knows nothing of HTTP or jobs.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::sync::lock;

/// Lines queued for the writer before new ones are dropped.
const QUEUE_LINES: usize = 8192;

/// How long the writer rests after a write: the most a line waits for the next (a full queue
/// in that time would be 800,000 lines a second).
const GATHER: Duration = Duration::from_millis(10);

/// What the writer is handed: a line, or a request to say once all before it are written.
enum Queued {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

/// Where [`flush`] asks; set by [`init`].
static QUEUE: OnceLock<Sender<Queued>> = OnceLock::new();

/// Longest client-supplied text shown in a log line.
const SHOWN_CHARS: usize = 64;

/// Client-supplied `text` as it may appear in a log line: as it is when short and plain,
/// otherwise quoted, cut to a short length and escaped (quotes, control characters, non-ASCII),
/// so one request cannot write a long line, forge a second one, or put terminal escapes in the
/// log.
pub fn shown(text: &str) -> String {
    let plain = |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\');
    if text.len() <= SHOWN_CHARS && !text.is_empty() && text.bytes().all(plain) {
        return text.to_string();
    }
    let mut out = String::with_capacity(SHOWN_CHARS + 8);
    out.push('"');
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str("…(");
            out.push_str(&text.chars().count().to_string());
            out.push_str(" chars)");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Starts the writer thread and installs the logger (simplelog's format) at `level`.
pub fn init(level: log::LevelFilter) {
    let (sender, receiver) = crossbeam_channel::bounded(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let _ = QUEUE.set(sender.clone());
    let writer = LineSender { line: Vec::new(), sender, dropped: Arc::clone(&dropped) };
    let spawned = std::thread::Builder::new().name("portico-log".into()).spawn(move || {
        write_lines(&receiver, &dropped, &mut BufWriter::with_capacity(64 * 1024, io::stderr()), GATHER)
    });
    if spawned.is_err() {
        // No thread, no log: the server still runs, and says so on stderr once.
        eprintln!("portico: cannot start the log writer thread; logging is off");
        return;
    }
    let config = simplelog::ConfigBuilder::new().set_time_format_rfc3339().build();
    let _ = simplelog::WriteLogger::init(level, config, writer);
}

/// The `Write` simplelog formats into: collects one line, then queues it without waiting.
struct LineSender {
    line: Vec<u8>,
    sender: Sender<Queued>,
    dropped: Arc<AtomicU64>,
}

/// Waits (up to a second) until every line logged so far is written: called last before the
/// process exits, whose last lines would otherwise be lost with the writer thread.
pub fn flush() {
    let Some(queue) = QUEUE.get() else { return };
    let (ack, done) = crossbeam_channel::bounded(1);
    if queue.send_timeout(Queued::Flush(ack), Duration::from_secs(1)).is_ok() {
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
}

impl Write for LineSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        if self.line.ends_with(b"\n") {
            let line = std::mem::take(&mut self.line);
            if let Err(TrySendError::Full(_)) = self.sender.try_send(Queued::Line(line)) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_lines(receiver: &Receiver<Queued>, dropped: &AtomicU64, out: &mut impl Write, gather: Duration) {
    while let Ok(first) = receiver.recv() {
        let mut flushed = Vec::new();
        // Everything already queued goes out in the same write.
        for queued in std::iter::once(first).chain(receiver.try_iter().take(QUEUE_LINES)) {
            match queued {
                Queued::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Queued::Flush(ack) => flushed.push(ack),
            }
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = writeln!(out, "portico: {lost} log lines were dropped because the log could not keep up");
        }
        let _ = out.flush();
        for ack in flushed {
            let _ = ack.send(());
        }
        std::thread::sleep(gather);
    }
}

/// Lets at most `per_window` lines of one kind through per window, and says how many were
/// held back when the next window opens.
pub struct Limiter {
    window: Duration,
    per_window: u32,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    started: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl Limiter {
    pub const fn new(window: Duration, per_window: u32) -> Limiter {
        Limiter { window, per_window, state: Mutex::new(LimiterState { started: None, passed: 0, suppressed: 0 }) }
    }

    /// `Some(n)` when this line may be written, `n` being how many before it were held back
    /// since the last one written; `None` when it must be held back.
    pub fn admit(&self) -> Option<u64> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        if state.started.is_none_or(|started| now.duration_since(started) >= self.window) {
            state.started = Some(now);
            state.passed = 0;
        }
        if state.passed >= self.per_window {
            state.suppressed += 1;
            return None;
        }
        state.passed += 1;
        Some(std::mem::take(&mut state.suppressed))
    }
}

/// A suffix for a rate-limited line: how many like it were held back.
pub fn suppressed_note(held_back: u64) -> String {
    if held_back == 0 {
        String::new()
    } else {
        format!(" ({held_back} similar lines suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_is_short_and_escaped() {
        assert_eq!(shown("alice"), "alice");
        assert_eq!(shown("two words"), "\"two words\"");
        assert_eq!(shown("a\"b\nc\u{1b}[31m"), "\"a\\\"b\\nc\\u{1b}[31m\"");
        let long = shown(&"x".repeat(60_000));
        assert!(long.len() < 100 && long.ends_with("…(60000 chars)\""), "{long}");
    }

    #[test]
    fn the_limiter_counts_what_it_holds_back() {
        let limiter = Limiter::new(Duration::from_secs(3600), 2);
        assert_eq!(
            (limiter.admit(), limiter.admit(), limiter.admit(), limiter.admit()),
            (Some(0), Some(0), None, None)
        );
        lock(&limiter.state).started = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(limiter.admit(), Some(2), "the next window reports the two held back");
        assert_eq!(suppressed_note(2), " (2 similar lines suppressed)");
    }

    #[test]
    fn the_writer_batches_and_reports_drops() {
        let (sender, receiver) = crossbeam_channel::bounded(4);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut writer = LineSender { line: Vec::new(), sender, dropped: Arc::clone(&dropped) };
        for i in 0..6 {
            write!(writer, "line ").unwrap();
            writeln!(writer, "{i}").unwrap();
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 2, "a full queue drops, never waits");
        // Each line went out as one message, whatever pieces formatted it (the landed code
        // wrote every piece to stderr under the logger's lock: about 27 writes a request).
        assert_eq!(receiver.len(), 4);
        drop(writer);
        let mut out = Vec::new();
        write_lines(&receiver, &dropped, &mut out, Duration::ZERO);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("line 0\nline 1\nline 2\nline 3\n") && text.contains("2 log lines were dropped"),
            "{text}"
        );
    }

    /// Counts the writes that reach the output (one per batch).
    #[derive(Clone, Default)]
    struct Batches(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Batches {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut batches = lock(&self.0);
            if batches.is_empty() {
                batches.push(Vec::new());
            }
            if let Some(batch) = batches.last_mut() {
                batch.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            lock(&self.0).push(Vec::new());
            Ok(())
        }
    }

    #[test]
    fn lines_logged_while_the_writer_rests_go_out_together_and_flush_waits_for_them() {
        let (sender, receiver) = crossbeam_channel::bounded(16);
        let dropped = Arc::new(AtomicU64::new(0));
        let out = Batches::default();
        let (mut thread_out, thread_dropped) = (out.clone(), Arc::clone(&dropped));
        let writer = std::thread::spawn(move || {
            write_lines(&receiver, &thread_dropped, &mut thread_out, Duration::from_millis(200))
        });
        sender.send(Queued::Line(b"first\n".to_vec())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Written and flushed (the flush starts the next, empty batch): the writer rests.
        while lock(&out.0).len() < 2 {
            assert!(Instant::now() < deadline, "the first line was never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The writer now rests: these wake nobody, and go out in one batch with the flush.
        for line in ["second\n", "third\n"] {
            sender.send(Queued::Line(line.as_bytes().to_vec())).unwrap();
        }
        let (ack, done) = crossbeam_channel::bounded(1);
        sender.send(Queued::Flush(ack)).unwrap();
        done.recv_timeout(Duration::from_secs(10)).expect("the flush is answered");
        let batches: Vec<String> =
            lock(&out.0).iter().filter(|b| !b.is_empty()).map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        assert_eq!(batches, ["first\n", "second\nthird\n"]);
        drop(sender);
        writer.join().unwrap();
    }
}
