//! Writing TEXT result sets: the lines a shell or Python job prints on stdout.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::cap::note_cut;
#[cfg(test)]
use super::index::remove_index;
use super::{create_next, number, MAX_ROW_BYTES};

/// Header of a TEXT result set: magic, type 1, and the `NULL` metadata row.
const TEXT_HEADER: &[u8] = b"dolphin00000000010000000004NULL";

/// Appends rows to a TEXT result set, up to its size cap.
pub struct TextResultWriter {
    file: BufWriter<File>,
    path: PathBuf,
    /// Bytes of the file so far, header included.
    written: u64,
    /// The cap on the file's size; rows that would pass it are refused.
    limit: u64,
    /// A row was refused at the cap: the file is whole up to its last row, and noted as cut.
    full: bool,
}

impl TextResultWriter {
    /// Creates (or truncates) the file at `path` with its header (tests name their files; jobs
    /// take the next name with [`TextResultWriter::create_next`]).
    #[cfg(test)]
    pub fn create(path: &Path) -> io::Result<TextResultWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A table that had this name may have left its row index; it must not outlive it.
        remove_index(path)?;
        TextResultWriter::start(File::create(path)?, path.to_path_buf(), u64::MAX)
    }

    /// Creates the next result file of `dir` (see [`create_next`]), so that it shares the
    /// directory with other writers of the same job without taking their names; the file will
    /// not grow past `limit` bytes.
    pub fn create_next(dir: &Path, limit: u64) -> io::Result<TextResultWriter> {
        let (path, file) = create_next(dir)?;
        TextResultWriter::start(file, path, limit)
    }

    fn start(file: File, path: PathBuf, limit: u64) -> io::Result<TextResultWriter> {
        let mut file = BufWriter::new(file);
        file.write_all(TEXT_HEADER)?;
        Ok(TextResultWriter { file, path, written: TEXT_HEADER.len() as u64, limit, full: false })
    }

    /// Where the rows go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row (a line longer than Linkis's row limit is cut to it); `false` when the
    /// row would take the file past its cap, so it and every later row are left out. The first
    /// refusal notes the cut beside the file.
    pub fn row(&mut self, text: &[u8]) -> io::Result<bool> {
        if self.full {
            return Ok(false);
        }
        let text = &text[..text.len().min(MAX_ROW_BYTES)];
        let cost = 10 + text.len() as u64;
        if self.written.saturating_add(cost) > self.limit {
            self.full = true;
            note_cut(&self.path, self.limit)?;
            return Ok(false);
        }
        self.file.write_all(&number(text.len()))?;
        self.file.write_all(text)?;
        self.written += cost;
        Ok(true)
    }

    /// Makes the rows written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
