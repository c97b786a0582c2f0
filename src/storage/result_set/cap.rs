//! The size cap of a result set: where a file over it is cut, and the hidden note that says a
//! result set was cut, so that listings can tell a client its result is not whole.
//!
//! Portico's writers stop at the cap themselves (`text.rs`, `table.rs`; Python's `show()` in
//! `portico.py`). A file a job wrote by other means is held to it from outside: while the job
//! runs, [`trim_over`] cuts whatever grew past it at the byte (the disk never holds much more
//! than the cap), and once the job is over, [`cut_to`] cuts it at the last whole row within the
//! cap, so readers see a valid result set. `_3.dolphin`'s note is `._3.dolphin.cut` beside it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::index::index_path;

/// The magic and the 10-digit type that open every result set; rows follow.
const HEADER_BYTES: u64 = 17;

/// The note of the result set at `path`: hidden, so listings leave it out.
pub fn cut_note_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.cut"))
}

/// Whether the result set at `path` was cut at its size cap.
pub fn was_cut(path: &Path) -> bool {
    std::fs::symlink_metadata(cut_note_path(path)).is_ok_and(|m| m.is_file())
}

/// Leaves the note that the result set at `path` was cut at `limit` bytes.
pub(super) fn note_cut(path: &Path, limit: u64) -> io::Result<()> {
    std::fs::write(cut_note_path(path), format!("cut at the result-set limit of {limit} bytes\n"))
}

/// Opens a job's file for cutting: never through a symlink, never a FIFO or a device.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let file =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
}

/// Cuts every regular file in `dir` that is over `limit` bytes down to `limit`, at the byte
/// (a job may still be writing it); returns the names of those it cut. For a running job.
pub fn trim_over(dir: &Path, limit: u64) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut cut = Vec::new();
    for entry in entries.filter_map(Result::ok).take(10_000) {
        let over = entry.metadata().is_ok_and(|m| m.is_file() && m.len() > limit);
        if !over {
            continue;
        }
        if let Ok(Some(file)) = open_regular(&entry.path()) {
            if file.set_len(limit).is_ok() {
                cut.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    cut
}

/// Cuts the result set at `path` after its last whole row within `limit` bytes, if it is over
/// `limit` or was cut mid-row by [`trim_over`] (it is then exactly `limit` long), and notes the
/// cut; returns the length it was cut to. For a result set nobody writes any more.
pub fn cut_to(path: &Path, limit: u64) -> io::Result<Option<u64>> {
    let Some(file) = open_regular(path)? else { return Ok(None) };
    let len = file.metadata()?.len();
    if len < limit {
        return Ok(None);
    }
    let end = last_row_end(&file, path, len.min(limit))?;
    if end == len {
        return Ok(None);
    }
    file.set_len(end)?;
    note_cut(path, limit)?;
    Ok(Some(end))
}

/// Where the last whole row within the first `within` bytes of the result set ends: rows are
/// walked along their length prefixes, from the last row the file's index (if any) records
/// within reach. A file that is not a result set ends at `within`.
fn last_row_end(file: &File, path: &Path, within: u64) -> io::Result<u64> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut magic = [0u8; HEADER_BYTES as usize];
    if within < HEADER_BYTES || reader.read_exact(&mut magic).is_err() || !magic.starts_with(b"dolphin") {
        return Ok(within);
    }
    // The first row (the metadata) is never skipped: an index entry is only used past it.
    let mut at = HEADER_BYTES;
    if let Some(offset) = indexed_offset_within(path, within) {
        at = offset;
        reader.seek(SeekFrom::Start(at))?;
    }
    let mut prefix = [0u8; 10];
    loop {
        if at + 10 > within || reader.read_exact(&mut prefix).is_err() {
            return Ok(at);
        }
        let Some(len) = std::str::from_utf8(&prefix).ok().and_then(|t| t.parse::<u64>().ok()) else {
            return Ok(at);
        };
        let next = at + 10 + len;
        if next > within {
            return Ok(at);
        }
        reader.seek_relative(len as i64)?;
        at = next;
    }
}

/// The largest offset the file's row index records that lies within `within` bytes.
fn indexed_offset_within(path: &Path, within: u64) -> Option<u64> {
    let mut index = BufReader::new(File::open(index_path(path)).ok()?);
    let mut best = None;
    let mut entry = [0u8; 8];
    while index.read_exact(&mut entry).is_ok() {
        let offset = u64::from_le_bytes(entry);
        if offset > HEADER_BYTES && offset < within {
            best = Some(best.map_or(offset, |b: u64| b.max(offset)));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::{Column, ResultReader, TableResultWriter, TableWriteError, TextResultWriter};
    use super::*;

    fn rows_of(path: &Path) -> u64 {
        let mut reader = ResultReader::open(path).unwrap();
        let mut rows = 0;
        while reader.next_row().unwrap().is_some() {
            rows += 1;
        }
        rows
    }

    #[test]
    fn the_text_writer_stops_before_the_row_that_would_pass_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = TextResultWriter::create_next(dir.path(), 31 + 3 * 15).unwrap();
        let path = writer.path().to_path_buf();
        let kept: Vec<bool> = (0..5).map(|_| writer.row(b"hello").unwrap()).collect();
        assert_eq!(kept, [true, true, true, false, false]);
        writer.flush().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 31 + 3 * 15);
        assert_eq!(rows_of(&path), 3);
        assert!(was_cut(&path));
    }

    #[test]
    fn the_table_writer_refuses_rows_past_the_cap_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            TableResultWriter::create_next(dir.path(), &[Column::new("s", "string")]).unwrap().with_limit(10_000);
        let mut written = 0;
        loop {
            match writer.row(&[Some("x".repeat(100))]) {
                Ok(()) => written += 1,
                Err(TableWriteError::Full { limit }) => break assert_eq!(limit, 10_000),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(matches!(writer.row(&[Some("x")]), Err(TableWriteError::Full { .. })), "full stays full");
        let path = writer.finish().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 10_000);
        assert_eq!(rows_of(&path), written);
        assert!(was_cut(&path));
    }

    #[test]
    fn a_file_over_the_cap_is_cut_at_its_last_whole_row() {
        let dir = tempfile::tempdir().unwrap();
        // A table with a row index (every 256th row), 3,000 rows of 30 bytes.
        let mut writer = TableResultWriter::create_next(dir.path(), &[Column::new("s", "string")]).unwrap();
        for i in 0..3000 {
            writer.row(&[Some(format!("{i:07}"))]).unwrap();
        }
        let table = writer.finish().unwrap();
        let full = std::fs::metadata(&table).unwrap().len();
        let end = cut_to(&table, full / 2).unwrap().expect("cut");
        assert!(end <= full / 2 && end > full / 2 - 40, "cut at {end} of {full}");
        assert!(rows_of(&table) > 1000 && was_cut(&table));
        assert_eq!(cut_to(&table, full / 2).unwrap(), None, "once cut, it fits");

        // A text file without an index, cut mid-row while it was written (exactly the cap long).
        let running = dir.path().join("running");
        let mut writer = TextResultWriter::create_next(&running, u64::MAX).unwrap();
        for _ in 0..100 {
            writer.row(b"0123456789").unwrap();
        }
        let text = writer.path().to_path_buf();
        drop(writer);
        assert_eq!(trim_over(&running, 1005), vec!["_0.dolphin".to_string()]);
        assert_eq!(cut_to(&text, 1005).unwrap(), Some(31 + 48 * 20));
        assert_eq!(rows_of(&text), 48);

        // Not a result set: cut at the byte.
        let junk = dir.path().join("_2.dolphin");
        std::fs::write(&junk, vec![b'z'; 5000]).unwrap();
        assert_eq!(cut_to(&junk, 4096).unwrap(), Some(4096));
    }
}
