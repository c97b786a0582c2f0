//! A job log read as it grows: the bytes of its complete lines from a given line on, then
//! "nothing yet" (`WouldBlock`) until more lines are written, then the end once the writer has
//! finished for good.
//!
//! It is a [`Read`] that never waits: the HTTP poller calls it when a follower's socket has
//! room, and again on its sweep when it said "nothing yet", so a follower costs an open file
//! and a position, never a thread. Reads are positional (`pread`), so nothing is buffered
//! between calls. It knows nothing of jobs: whether more lines can come is the `finished`
//! probe's answer, which must only turn true once every line is on disk (the job ledger
//! publishes a job's end after its closing lines are flushed).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::log_file::indexed_position;

/// Says whether the log is finished: no line will be added to it any more.
pub type Finished = Box<dyn Fn() -> bool + Send>;

/// A log being followed from one line on.
pub struct LogFollow {
    file: File,
    /// The offset of the next byte to hand out (or to skip).
    pos: u64,
    /// Complete lines still to skip before the first one handed out (`fromLine` past them).
    skip: u64,
    finished: Finished,
}

impl LogFollow {
    /// Follows the log at `path` from line `from` (1-based; 0 and 1 both mean the first line),
    /// which may lie past its current end: lines up to it are skipped as they come.
    pub fn open(path: &Path, from: u64, finished: Finished) -> io::Result<LogFollow> {
        let first = from.max(1);
        let (line, pos) = indexed_position(path, first)?;
        let file = File::open(path)?;
        Ok(LogFollow { file, pos, skip: first - line, finished })
    }
}

impl Read for LogFollow {
    /// Fills `out` with whole lines (a line longer than `out` goes in pieces once it fills it),
    /// `Ok(0)` once the log is finished and all of it was handed out, `WouldBlock` when there is
    /// nothing new yet.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            // Asked before reading: once the log is finished every line is on disk, so a read
            // after a "finished" that finds nothing new is the true end.
            let finished = (self.finished)();
            let n = read_at_retrying(&self.file, out, self.pos)?;
            let complete = match out[..n].iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                // A line longer than the buffer: what is on disk of it goes out in pieces.
                None if n == out.len() => n,
                // A line being written (or a torn last line) is handed out only once complete.
                None => 0,
            };
            if complete == 0 {
                return if finished { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
            }
            let mut start = 0;
            while self.skip > 0 && start < complete {
                match out[start..complete].iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        start += i + 1;
                        self.skip -= 1;
                    }
                    None => start = complete,
                }
            }
            self.pos += complete as u64;
            if start < complete {
                out.copy_within(start..complete, 0);
                return Ok(complete - start);
            }
        }
    }
}

fn read_at_retrying(file: &File, out: &mut [u8], pos: u64) -> io::Result<usize> {
    loop {
        match file.read_at(out, pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::storage::log_file::LogWriter;

    fn follower(path: &Path, from: u64, done: &Arc<AtomicBool>) -> LogFollow {
        let done = Arc::clone(done);
        LogFollow::open(path, from, Box::new(move || done.load(Ordering::SeqCst))).unwrap()
    }

    /// Reads what is there now: the bytes, and whether the follower said the end.
    fn drain(follow: &mut LogFollow, buf: usize) -> (String, bool) {
        let mut text = Vec::new();
        let mut out = vec![0; buf];
        loop {
            match follow.read(&mut out) {
                Ok(0) => return (String::from_utf8(text).unwrap(), true),
                Ok(n) => text.extend_from_slice(&out[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (String::from_utf8(text).unwrap(), false),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn lines_come_as_they_are_written_and_the_end_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut log = LogWriter::create(&path).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let mut follow = follower(&path, 0, &done);
        assert_eq!(drain(&mut follow, 64), (String::new(), false));
        log.line(b"one").unwrap();
        log.flush().unwrap();
        assert_eq!(drain(&mut follow, 64), ("one\n".into(), false));
        // A line half on disk is held back until it is whole.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all_at_end(b"tw");
        assert_eq!(drain(&mut follow, 64), (String::new(), false));
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all_at_end(b"o\nthree\n");
        done.store(true, Ordering::SeqCst);
        assert_eq!(drain(&mut follow, 64), ("two\nthree\n".into(), true));
    }

    #[test]
    fn from_line_skips_lines_even_those_not_written_yet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut log = LogWriter::create(&path).unwrap();
        for i in 1..=600 {
            log.line(format!("line {i}").as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let (text, _) = drain(&mut follower(&path, 599, &done), 16);
        assert_eq!(text, "line 599\nline 600\n");
        let mut ahead = follower(&path, 602, &done);
        assert_eq!(drain(&mut ahead, 16), (String::new(), false));
        for i in 601..=603 {
            log.line(format!("line {i}").as_bytes()).unwrap();
        }
        log.flush().unwrap();
        done.store(true, Ordering::SeqCst);
        assert_eq!(drain(&mut ahead, 16), ("line 602\nline 603\n".into(), true));
    }

    #[test]
    fn a_line_longer_than_the_buffer_goes_out_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut log = LogWriter::create(&path).unwrap();
        let long = "x".repeat(100);
        log.line(long.as_bytes()).unwrap();
        log.flush().unwrap();
        let done = Arc::new(AtomicBool::new(true));
        assert_eq!(drain(&mut follower(&path, 1, &done), 16), (format!("{long}\n"), true));
    }

    trait AppendAll {
        fn write_all_at_end(self, bytes: &[u8]);
    }

    impl AppendAll for File {
        fn write_all_at_end(mut self, bytes: &[u8]) {
            use std::io::Write;
            self.write_all(bytes).unwrap();
        }
    }
}
