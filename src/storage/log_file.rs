//! Append-only job logs with a sparse line index.
//!
//! A job's log is a plain text file (`{task}.log`), one line per line, so it can be read with
//! any tool and served whole by `openLog`. Beside it, `{task}.log.idx` holds the byte offset of
//! every [`INDEX_STRIDE`]th line as a little-endian `u64`, written as the log grows. Serving a
//! page then costs one seek and at most `INDEX_STRIDE` skipped lines, whatever the log's size,
//! and needs nothing in memory, so it works the same after the job ends or the server restarts.
//!
//! The index is made only when the log grows past its first `INDEX_STRIDE` lines: until then
//! its one entry would say "line 1 is at byte 0", which a missing index says too. Most jobs'
//! logs stay that short, and a file fewer per job is an inode fewer to allocate: on ext4
//! without a journal, allocating one grows slow while many files were deleted lately, and
//! cost more than running a trivial job in the job throughput benchmark.
//!
//! For the same reason a log starts out held in memory ([`LogWriter::held`]), its owner keeping
//! its lines somewhere durable (the job's history row), and becomes its file only when it must:
//! someone reads it, its job prints, or it outgrows a few hundred lines. A trivial job whose log
//! nobody reads makes no file at all. Reading the file back (`scan.rs`) and the level split
//! (`levels.rs`) are beside this file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::clock;

/// Every how many lines the index records an offset.
pub const INDEX_STRIDE: u64 = 256;

/// A page stops growing once it holds this many bytes (a page always holds at least one line).
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// The level a log line is filed under in the four-slot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

/// The index file that belongs to a log file.
pub fn index_path(log_path: &Path) -> PathBuf {
    let mut name = log_path.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

/// Most lines a held log takes before it is made a file: a log that long is not a trivial
/// job's, and the index starts at this line.
const HELD_MAX_LINES: u64 = INDEX_STRIDE - 1;

/// Most bytes a held log takes before it is made a file.
const HELD_MAX_BYTES: u64 = 16 * 1024;

/// Where a log's lines go: a file, or memory until the log is made one ([`LogWriter::held`]).
enum Sink {
    File(BufWriter<File>),
    Held(Vec<u8>),
}

/// Writes one job's log. Lines become visible to readers when [`LogWriter::flush`] runs.
pub struct LogWriter {
    log: Sink,
    /// `None` until the log needs its second index entry (see the module's docs).
    index: Option<BufWriter<File>>,
    log_path: PathBuf,
    /// Bytes written to the log so far: the offset of the next line.
    offset: u64,
    /// Complete lines written so far.
    lines: u64,
}

impl LogWriter {
    /// A new, empty log file (one already there is started afresh): what a held log made a
    /// file at once is.
    #[cfg(test)]
    pub fn create(log_path: &Path) -> io::Result<LogWriter> {
        let mut log = LogWriter::held(log_path, Vec::new());
        log.make_file()?;
        Ok(log)
    }

    /// A log held in memory, with `lines` (a log held before, as its history row kept it), to
    /// be made the file `log_path` once it must be one ([`LogWriter::make_file`]): when
    /// someone reads it, when it outgrows a held log's bounds, or when its job prints. A job
    /// that prints nothing and whose log nobody reads then never makes a file, whose inode can
    /// cost more than running the job (see the module's docs). Whoever holds one keeps its
    /// bytes somewhere durable ([`LogWriter::held_bytes`]).
    pub fn held(log_path: &Path, lines: Vec<u8>) -> LogWriter {
        let complete = lines.iter().filter(|b| **b == b'\n').count() as u64;
        let offset = lines.len() as u64;
        LogWriter { log: Sink::Held(lines), index: None, log_path: log_path.to_path_buf(), offset, lines: complete }
    }

    /// The lines of a log still held in memory; `None` once it is a file.
    pub fn held_bytes(&self) -> Option<&[u8]> {
        match &self.log {
            Sink::Held(bytes) => Some(bytes),
            Sink::File(_) => None,
        }
    }

    /// Makes a held log the file it stands for (nothing if it is one already), whole or not at
    /// all: written aside and moved into place, so a crash never leaves a file with fewer lines
    /// than the row holds. A file already there with exactly these lines (a reader made it
    /// from the history row as the job ended) is kept; any other (a data directory whose
    /// history was lost) is replaced, its index with it.
    pub fn make_file(&mut self) -> io::Result<()> {
        let Sink::Held(bytes) = &self.log else { return Ok(()) };
        if !std::fs::read(&self.log_path).is_ok_and(|made| made == *bytes) {
            match std::fs::remove_file(index_path(&self.log_path)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            write_whole(&self.log_path, bytes, true)?;
        }
        self.log = Sink::File(BufWriter::new(OpenOptions::new().append(true).open(&self.log_path)?));
        Ok(())
    }

    /// Reopens an existing log to append to it, recovering its position from the files. After
    /// a crash the log may end in a torn line and the index may be behind the log (its buffer
    /// was not written out) or ahead of it: the torn line is cut off, index entries past the
    /// end are dropped and missing ones are rebuilt, so the two agree again before anything is
    /// added. This reads only the tail after the last good index entry.
    pub fn append_to(log_path: &Path) -> io::Result<LogWriter> {
        let tail = scan(log_path)?;
        let log = OpenOptions::new().append(true).open(log_path)?;
        if log.metadata()?.len() > tail.end {
            log.set_len(tail.end)?;
        }
        let path = index_path(log_path);
        let needed = tail.trusted_entries + tail.missing_entries.len() as u64;
        let index = if needed <= 1 && !path.exists() {
            None
        } else {
            let index = OpenOptions::new().create(true).append(true).open(&path)?;
            if index.metadata()?.len() != tail.trusted_entries * 8 {
                index.set_len(tail.trusted_entries * 8)?;
            }
            let mut index = BufWriter::new(index);
            for offset in &tail.missing_entries {
                index.write_all(&offset.to_le_bytes())?;
            }
            index.flush()?;
            Some(index)
        };
        Ok(LogWriter {
            log: Sink::File(BufWriter::new(log)),
            index,
            log_path: log_path.to_path_buf(),
            offset: tail.end,
            lines: tail.lines,
        })
    }

    /// Appends one raw line (a job's own output). Embedded newlines must already be split off.
    pub fn line(&mut self, text: &[u8]) -> io::Result<()> {
        if matches!(self.log, Sink::Held(_))
            && (self.lines >= HELD_MAX_LINES || self.offset + text.len() as u64 >= HELD_MAX_BYTES)
        {
            self.make_file()?;
        }
        if self.lines % INDEX_STRIDE == 0 {
            self.index_entry()?;
        }
        match &mut self.log {
            Sink::File(out) => {
                out.write_all(text)?;
                out.write_all(b"\n")?;
            }
            Sink::Held(bytes) => {
                bytes.extend_from_slice(text);
                bytes.push(b'\n');
            }
        }
        self.offset += text.len() as u64 + 1;
        self.lines += 1;
        Ok(())
    }

    /// Appends a server event as Linkis-style lines (`yyyy-MM-dd HH:mm:ss.SSS LEVEL text`).
    /// Every line of a multi-line text is stamped, so all of an error lands in the error slot.
    pub fn event(&mut self, level: Level, text: &str) -> io::Result<()> {
        let stamp = clock::log_timestamp(clock::now_millis());
        for part in text.split('\n') {
            self.line(format!("{stamp} {} {part}", level.word()).as_bytes())?;
        }
        Ok(())
    }

    /// Records where the next line starts. The first entry (line 1 at byte 0) is only written
    /// along with the second, when the index file is made.
    fn index_entry(&mut self) -> io::Result<()> {
        let index = match &mut self.index {
            Some(index) => index,
            None if self.lines == 0 => return Ok(()),
            None => {
                let mut index = BufWriter::new(File::create(index_path(&self.log_path))?);
                index.write_all(&0u64.to_le_bytes())?;
                self.index.insert(index)
            }
        };
        index.write_all(&self.offset.to_le_bytes())
    }

    /// Makes everything written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Sink::File(out) = &mut self.log {
            out.flush()?;
        }
        match &mut self.index {
            Some(index) => index.flush(),
            None => Ok(()),
        }
    }

    /// Lines written so far.
    #[cfg(test)]
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.offset
    }
}

/// Makes the file of a log whose lines a history row held (its job ended before anyone needed
/// the file), unless it is a file already. Written under another name beside it and linked
/// into place, so no reader sees it half written and two readers making it at once both see
/// the one file.
pub fn make_held_file(log_path: &Path, lines: &[u8]) -> io::Result<()> {
    if log_path.exists() {
        return Ok(());
    }
    write_whole(log_path, lines, false)
}

/// Writes `lines` as the file `path` (and its folder, if missing) under another name beside
/// it first, then moves it into place: replacing a file there if `replace`, else leaving one
/// there as it is. A crash leaves the whole file or none, and maybe the part file (named
/// `.<name>.<pid>-<n>.part`).
fn write_whole(path: &Path, lines: &[u8], replace: bool) -> io::Result<()> {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a log path names a file in a folder"));
    };
    // One at a time per folder (a stripe of folders, by name): the kernel makes files in one
    // folder one at a time anyway, and a thread waiting for the folder's lock spins on its core
    // while the holder runs, which on ext4 without a journal may be searching past thousands
    // of recently deleted inodes. Waiting here sleeps instead.
    static MAKING: [std::sync::Mutex<()>; 8] = [const { std::sync::Mutex::new(()) }; 8];
    let stripe =
        dir.as_os_str().as_encoded_bytes().iter().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b)));
    let _one_at_a_time = crate::sync::lock(&MAKING[stripe % MAKING.len()]);
    std::fs::create_dir_all(dir)?;
    let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let part = dir.join(format!(".{}.{}-{made}.part", name.to_string_lossy(), std::process::id()));
    std::fs::write(&part, lines)?;
    let placed = if replace { std::fs::rename(&part, path) } else { std::fs::hard_link(&part, path) };
    // A rename that worked took the part file's name away; anything else leaves it.
    if !replace || placed.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    match placed {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Held while retention removes ended jobs' files until the history records it, and while an
/// ended job's log is made from its row: a log is never made again between the two.
pub fn ended_logs_lock() -> std::sync::MutexGuard<'static, ()> {
    static ENDED_LOGS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    crate::sync::lock(&ENDED_LOGS)
}

/// One page of a log.
#[derive(Debug, Default)]
pub struct LogPage {
    /// The lines, without their newlines.
    pub lines: Vec<String>,
    /// The `fromLine` to ask for next: never repeats a line or skips one.
    pub next_from: u64,
}

/// Reads up to `size` lines starting at line `from` (1-based; 0 is Linkis's empty first slot).
///
/// Only complete lines are returned, so a line being written is never served half.
pub fn read_page(log_path: &Path, from: u64, size: u64) -> io::Result<LogPage> {
    let first = from.max(1);
    if size == 0 || (from == 0 && size == 1) {
        return Ok(LogPage { lines: Vec::new(), next_from: from + u64::from(size == 1) });
    }
    // The slots `from..from + size` hold lines `first..=last`.
    let last = from.saturating_add(size - 1);
    let (mut line_no, offset) = indexed_position(log_path, first)?;
    let mut file = File::open(log_path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut page = LogPage { lines: Vec::new(), next_from: from };
    let mut bytes = 0usize;
    let mut buf = Vec::new();
    while line_no <= last {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        if line_no >= first {
            buf.pop();
            bytes += buf.len();
            page.lines.push(String::from_utf8_lossy(&buf).into_owned());
            page.next_from = line_no + 1;
            if bytes >= MAX_PAGE_BYTES {
                break;
            }
        }
        line_no += 1;
    }
    Ok(page)
}

/// The nearest indexed line at or before `line` and its byte offset.
pub(super) fn indexed_position(log_path: &Path, line: u64) -> io::Result<(u64, u64)> {
    let mut index = match File::open(index_path(log_path)) {
        Ok(index) => index,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((1, 0)),
        Err(e) => return Err(e),
    };
    let entries = index.metadata()?.len() / 8;
    if entries == 0 {
        return Ok((1, 0));
    }
    let slot = ((line - 1) / INDEX_STRIDE).min(entries - 1);
    index.seek(SeekFrom::Start(slot * 8))?;
    let mut bytes = [0u8; 8];
    index.read_exact(&mut bytes)?;
    Ok((slot * INDEX_STRIDE + 1, u64::from_le_bytes(bytes)))
}

mod levels;
mod scan;

#[cfg(test)]
use scan::count_lines;
use scan::scan;

#[cfg(test)]
use levels::classify;
pub use levels::LevelSplit;

#[cfg(test)]
mod tests;
