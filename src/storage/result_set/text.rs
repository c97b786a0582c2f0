//! Writing TEXT result sets: the lines a shell or Python job prints on stdout.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

#[cfg(test)]
use super::index::remove_index;
use super::{create_next, number, MAX_ROW_BYTES};

/// Header of a TEXT result set: magic, type 1, and the `NULL` metadata row.
const TEXT_HEADER: &[u8] = b"dolphin00000000010000000004NULL";

/// Appends rows to a TEXT result set.
pub struct TextResultWriter {
    file: BufWriter<File>,
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
        TextResultWriter::start(File::create(path)?)
    }

    /// Creates the next result file of `dir` (see [`create_next`]), so that it shares the
    /// directory with other writers of the same job without taking their names.
    pub fn create_next(dir: &Path) -> io::Result<TextResultWriter> {
        let (_, file) = create_next(dir)?;
        TextResultWriter::start(file)
    }

    fn start(file: File) -> io::Result<TextResultWriter> {
        let mut file = BufWriter::new(file);
        file.write_all(TEXT_HEADER)?;
        Ok(TextResultWriter { file })
    }

    /// Appends one row; a line longer than Linkis's row limit is cut to it.
    pub fn row(&mut self, text: &[u8]) -> io::Result<()> {
        let text = &text[..text.len().min(MAX_ROW_BYTES)];
        self.file.write_all(&number(text.len()))?;
        self.file.write_all(text)
    }

    /// Makes the rows written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
