//! Finding where a log ends: its complete lines and the index entries it should have, for
//! appending to a log after a restart (the log may end in a torn line, the index may be behind
//! or ahead of it).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{index_path, INDEX_STRIDE};

/// Complete lines in a log, counted from its index and the tail after the last indexed line.
#[cfg(test)]
pub(super) fn count_lines(log_path: &Path) -> io::Result<u64> {
    scan(log_path).map(|tail| tail.lines)
}

/// What [`scan`] finds at the end of a log.
pub(super) struct Tail {
    /// Complete lines.
    pub(super) lines: u64,
    /// The byte offset just after the last complete line.
    pub(super) end: u64,
    /// Index entries that are plausible (within the log), from the start.
    pub(super) trusted_entries: u64,
    /// Offsets of the lines that should have index entries after the trusted ones.
    pub(super) missing_entries: Vec<u64>,
}

/// Counts a log's complete lines from its last plausible index entry, noting the index entries
/// that are missing after it.
pub(super) fn scan(log_path: &Path) -> io::Result<Tail> {
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
