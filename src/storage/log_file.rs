//! Append-only job logs with a sparse line index; the Linkis level split is in `levels.rs`.
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

/// Writes one job's log. Lines become visible to readers when [`LogWriter::flush`] runs.
pub struct LogWriter {
    log: BufWriter<File>,
    /// `None` until the log needs its second index entry (see the module's docs).
    index: Option<BufWriter<File>>,
    log_path: PathBuf,
    /// Bytes written to the log so far: the offset of the next line.
    offset: u64,
    /// Complete lines written so far.
    lines: u64,
}

impl LogWriter {
    /// Creates the log, and its folder if that is missing. A log already there (a data
    /// directory whose history was lost) is started afresh, without the index of its old lines.
    ///
    /// Logs are created one at a time per folder (a stripe of folders, by name): the kernel
    /// makes files in one folder one at a time anyway, and a thread waiting for the folder's
    /// lock spins on its core while the holder runs, which on ext4 without a journal may be
    /// searching past thousands of recently deleted inodes. Waiting here sleeps instead.
    pub fn create(log_path: &Path) -> io::Result<LogWriter> {
        static CREATING: [std::sync::Mutex<()>; 8] = [const { std::sync::Mutex::new(()) }; 8];
        let folder = log_path.parent().map(|p| p.as_os_str().as_encoded_bytes()).unwrap_or_default();
        let stripe = folder.iter().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b)));
        let _one_at_a_time = crate::sync::lock(&CREATING[stripe % CREATING.len()]);
        let create_new = || OpenOptions::new().write(true).create_new(true).open(log_path);
        let log = match create_new() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = log_path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                create_new()?
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match std::fs::remove_file(index_path(log_path)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                File::create(log_path)?
            }
            created => created?,
        };
        Ok(LogWriter { log: BufWriter::new(log), index: None, log_path: log_path.to_path_buf(), offset: 0, lines: 0 })
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
            log: BufWriter::new(log),
            index,
            log_path: log_path.to_path_buf(),
            offset: tail.end,
            lines: tail.lines,
        })
    }

    /// Appends one raw line (a job's own output). Embedded newlines must already be split off.
    pub fn line(&mut self, text: &[u8]) -> io::Result<()> {
        if self.lines % INDEX_STRIDE == 0 {
            self.index_entry()?;
        }
        self.log.write_all(text)?;
        self.log.write_all(b"\n")?;
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
        self.log.flush()?;
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

/// Complete lines in a log, counted from its index and the tail after the last indexed line.
#[cfg(test)]
pub fn count_lines(log_path: &Path) -> io::Result<u64> {
    scan(log_path).map(|tail| tail.lines)
}

/// What [`scan`] finds at the end of a log.
struct Tail {
    /// Complete lines.
    lines: u64,
    /// The byte offset just after the last complete line.
    end: u64,
    /// Index entries that are plausible (within the log), from the start.
    trusted_entries: u64,
    /// Offsets of the lines that should have index entries after the trusted ones.
    missing_entries: Vec<u64>,
}

/// Counts a log's complete lines from its last plausible index entry, noting the index entries
/// that are missing after it.
fn scan(log_path: &Path) -> io::Result<Tail> {
    let mut file = File::open(log_path)?;
    let len = file.metadata()?.len();
    let mut trusted = 0u64;
    let mut start = 0u64;
    if let Ok(mut index) = File::open(index_path(log_path)) {
        let entry = |index: &mut File, slot: u64| -> io::Result<u64> {
            index.seek(SeekFrom::Start(slot * 8))?;
            let mut bytes = [0u8; 8];
            index.read_exact(&mut bytes)?;
            Ok(u64::from_le_bytes(bytes))
        };
        trusted = index.metadata()?.len() / 8;
        if trusted > 0 && entry(&mut index, 0)? != 0 {
            trusted = 0;
        }
        // Entries past the end of the log were written ahead of lines that never made it.
        while trusted > 0 {
            start = entry(&mut index, trusted - 1)?;
            if start <= len {
                break;
            }
            trusted -= 1;
            start = 0;
        }
    }
    let mut line_no = if trusted == 0 { 1 } else { (trusted - 1) * INDEX_STRIDE + 1 };
    let mut offset = start;
    let mut missing_entries = Vec::new();
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            let lines = line_no - 1;
            // An entry for a line that never completed is dropped too; `line` writes it again.
            let trusted_entries = trusted.min(lines.div_ceil(INDEX_STRIDE));
            return Ok(Tail { lines, end: offset, trusted_entries, missing_entries });
        }
        if (line_no - 1) % INDEX_STRIDE == 0 && (line_no - 1) / INDEX_STRIDE >= trusted {
            missing_entries.push(offset);
        }
        offset += n as u64;
        line_no += 1;
    }
}

mod levels;

#[cfg(test)]
use levels::classify;
pub use levels::LevelSplit;

#[cfg(test)]
mod tests;
