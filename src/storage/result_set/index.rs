//! The sparse row index of a TABLE result set: a hidden sidecar holding the byte offset of
//! every [`STRIDE`]th row, so that a page deep into a million-row result costs one seek and at
//! most `STRIDE` skipped rows instead of a walk through every earlier row.
//!
//! `_3.dolphin`'s index is `._3.dolphin.idx` beside it: little-endian `u64` offsets, entry `j`
//! for row `(j + 1) * STRIDE` (rows counted from 0 after the metadata). The index only ever
//! speeds reading up: a file without one (written by Linkis, or by hand) is read by skipping,
//! and entries past what the index holds, or pointing past the file, are not used.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Every how many rows the index records an offset.
pub const STRIDE: u64 = 256;

/// The index file of the result set at `path` (hidden, so listings leave it out).
pub fn index_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.idx"))
}

/// Records offsets as a writer appends rows.
pub struct IndexWriter {
    file: BufWriter<File>,
}

impl IndexWriter {
    /// Creates (or truncates) the index of the result set at `path`.
    pub fn create(path: &Path) -> io::Result<IndexWriter> {
        Ok(IndexWriter { file: BufWriter::new(File::create(index_path(path))?) })
    }

    /// Called before row `row` is written at byte `offset`.
    pub fn before_row(&mut self, row: u64, offset: u64) -> io::Result<()> {
        if row > 0 && row % STRIDE == 0 {
            self.file.write_all(&offset.to_le_bytes())?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Removes the index of `path`, for a writer that replaces the result set with one it does not
/// index: an index left from an earlier file of that name would point into the wrong rows.
pub fn remove_index(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(index_path(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An open index, used by the reader to jump close to a row.
pub struct IndexReader {
    file: File,
    entries: u64,
    /// The data file's length: an entry at or past it is not trusted.
    data_len: u64,
}

impl IndexReader {
    /// The index of the result set at `path`, if it has one.
    pub fn open(path: &Path, data_len: u64) -> Option<IndexReader> {
        // Non-blocking and not through a symlink, then checked on the open descriptor: a FIFO
        // or a device a job put in its result directory must not hang or mislead a reader.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(index_path(path))
            .ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() {
            return None;
        }
        let entries = metadata.len() / 8;
        Some(IndexReader { file, entries, data_len })
    }

    /// The nearest indexed row at or before `row` that lies beyond `after`, with its offset.
    pub fn jump(&mut self, row: u64, after: u64) -> Option<(u64, u64)> {
        let entry = (row / STRIDE).min(self.entries);
        if entry == 0 || entry * STRIDE <= after {
            return None;
        }
        self.file.seek(SeekFrom::Start((entry - 1) * 8)).ok()?;
        let mut bytes = [0u8; 8];
        self.file.read_exact(&mut bytes).ok()?;
        let offset = u64::from_le_bytes(bytes);
        (offset < self.data_len).then_some((entry * STRIDE, offset))
    }
}
