//! Dolphin result-set files, the format Linkis clients page through with `openFile`.
//!
//! A TEXT result set (type 1) is the 7 bytes `dolphin`, the type as a 10-digit number, then rows
//! of a 10-digit byte length followed by that many bytes; the first row is the metadata `NULL`.
//! Shell and Python jobs write their stdout lines into one such file, `_0.dolphin`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Header of a TEXT result set: magic, type 1, and the `NULL` metadata row.
const TEXT_HEADER: &[u8] = b"dolphin00000000010000000004NULL";

/// Longest row Linkis writes (2 MB); longer output lines are cut to this length.
pub const MAX_ROW_BYTES: usize = 2 * 1024 * 1024;

/// Appends rows to a TEXT result set.
pub struct TextResultWriter {
    file: BufWriter<File>,
    rows: u64,
}

impl TextResultWriter {
    /// Creates the file with its header.
    pub fn create(path: &Path) -> io::Result<TextResultWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = BufWriter::new(File::create(path)?);
        file.write_all(TEXT_HEADER)?;
        Ok(TextResultWriter { file, rows: 0 })
    }

    /// Appends one row.
    pub fn row(&mut self, text: &[u8]) -> io::Result<()> {
        let text = &text[..text.len().min(MAX_ROW_BYTES)];
        write!(self.file, "{:010}", text.len())?;
        self.file.write_all(text)?;
        self.rows += 1;
        Ok(())
    }

    /// Makes the rows written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_documented_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let mut writer = TextResultWriter::create(&path).unwrap();
        writer.row(b"hello").unwrap();
        writer.row(b"world").unwrap();
        writer.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"dolphin00000000010000000004NULL0000000005hello0000000005world");
    }
}
