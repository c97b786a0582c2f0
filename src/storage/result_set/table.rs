//! Writing TABLE result sets: the rows an engine's query returns, with their column metadata.
//!
//! An engine creates a writer with its columns, hands it rows as they come (each value raw
//! bytes or NULL), and finishes it. A row is encoded whole in memory before any of it is
//! written, so a row that is refused (too large, wrong number of values) leaves no trace and
//! the file stays a valid result set. Beside the file the writer keeps a sparse row index
//! (`index.rs`) so that readers can page deep into it without walking every row.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::cap::note_cut;
use super::index::IndexWriter;
use super::{create_next, number, push_decimal, Column, MAX_ROW_BYTES, NULL_VALUE};

/// Magic and type 2.
const TABLE_HEADER: &[u8] = b"dolphin0000000002";

/// Why a table could not be written, or a row was not.
#[derive(Debug)]
pub enum TableWriteError {
    /// A table needs at least one column.
    NoColumns,
    /// The row (or the metadata row) would be `bytes` long, over Linkis's limit of `limit`
    /// ([`MAX_ROW_BYTES`]); nothing was written for it.
    RowTooLarge { bytes: usize, limit: usize },
    /// The row has `got` values for `expected` columns; nothing was written for it.
    WrongArity { expected: usize, got: usize },
    /// The row would take the file past its size cap of `limit` bytes: nothing was written for
    /// it, the file is noted as cut, and every later row is refused the same way.
    Full { limit: u64 },
    /// The file could not be written. After a failed write the file may end in a torn row, so
    /// the writer refuses every later row with this error too.
    Io(io::Error),
}

impl std::fmt::Display for TableWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableWriteError::NoColumns => write!(f, "a table result set needs at least one column"),
            TableWriteError::RowTooLarge { bytes, limit } => {
                write!(f, "a row of {bytes} bytes is over the {limit}-byte limit of a result set row")
            }
            TableWriteError::WrongArity { expected, got } => {
                write!(f, "a row has {got} values for {expected} columns")
            }
            TableWriteError::Full { limit } => write!(f, "the result set reached its limit of {limit} bytes"),
            TableWriteError::Io(e) => write!(f, "cannot write the result set: {e}"),
        }
    }
}

impl std::error::Error for TableWriteError {}

impl From<io::Error> for TableWriteError {
    fn from(e: io::Error) -> TableWriteError {
        TableWriteError::Io(e)
    }
}

/// Appends rows to a TABLE result set.
pub struct TableResultWriter {
    file: BufWriter<File>,
    index: IndexWriter,
    path: PathBuf,
    columns: usize,
    rows: u64,
    /// Bytes written to the file so far: where the next row starts.
    offset: u64,
    /// The row being encoded, reused so a row costs no allocation.
    scratch: Vec<u8>,
    /// Set by a failed write: the file may end in a torn row.
    broken: bool,
    /// The cap on the file's size; rows that would pass it are refused.
    limit: u64,
    /// A row was refused at the cap.
    full: bool,
}

impl TableResultWriter {
    /// Creates (or truncates) the file at `path` with its header and metadata row.
    pub fn create(path: &Path, columns: &[Column]) -> Result<TableResultWriter, TableWriteError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let metadata = metadata_row(columns)?;
        TableResultWriter::start(File::create(path)?, path.to_path_buf(), &metadata, columns.len())
            .inspect_err(|_| discard(path))
    }

    /// Creates the next result file of `dir` (`_N.dolphin`, see [`super::create_next`]), so
    /// that the engine's tables and the job's stdout never take each other's names.
    pub fn create_next(dir: &Path, columns: &[Column]) -> Result<TableResultWriter, TableWriteError> {
        let metadata = metadata_row(columns)?;
        let (path, file) = create_next(dir)?;
        TableResultWriter::start(file, path.clone(), &metadata, columns.len()).inspect_err(|_| discard(&path))
    }

    fn start(file: File, path: PathBuf, metadata: &[u8], columns: usize) -> Result<TableResultWriter, TableWriteError> {
        let index = IndexWriter::create(&path)?;
        let mut file = BufWriter::with_capacity(64 * 1024, file);
        file.write_all(TABLE_HEADER)?;
        file.write_all(metadata)?;
        let offset = (TABLE_HEADER.len() + metadata.len()) as u64;
        Ok(TableResultWriter {
            file,
            index,
            path,
            columns,
            rows: 0,
            offset,
            scratch: Vec::new(),
            broken: false,
            limit: u64::MAX,
            full: false,
        })
    }

    /// Caps the file at `limit` bytes: a row that would pass it is refused with
    /// [`TableWriteError::Full`], and so is every later one.
    pub fn with_limit(mut self, limit: u64) -> TableResultWriter {
        self.limit = limit;
        self
    }

    /// Where the rows go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one row, one value per column, `None` for NULL. Accepts whatever holds bytes
    /// (`&[Option<&[u8]>]`, `&[Option<&str>]`, `&[Option<String>]`, …), so an engine can pass
    /// its values without copying them.
    ///
    /// A refused row ([`TableWriteError::RowTooLarge`], [`TableWriteError::WrongArity`]) writes
    /// nothing and the writer stays usable.
    pub fn row<V: AsRef<[u8]>>(&mut self, values: &[Option<V>]) -> Result<(), TableWriteError> {
        if self.broken {
            return Err(TableWriteError::Io(io::Error::other("an earlier write to this result set failed")));
        }
        if values.len() != self.columns {
            return Err(TableWriteError::WrongArity { expected: self.columns, got: values.len() });
        }
        if self.full {
            return Err(TableWriteError::Full { limit: self.limit });
        }
        encode_row(&mut self.scratch, values.iter().map(|v| v.as_ref().map(AsRef::as_ref)))?;
        if self.offset.saturating_add(self.scratch.len() as u64) > self.limit {
            self.full = true;
            note_cut(&self.path, self.limit)?;
            return Err(TableWriteError::Full { limit: self.limit });
        }
        let written = self.index.before_row(self.rows, self.offset).and_then(|()| self.file.write_all(&self.scratch));
        if let Err(e) = written {
            self.broken = true;
            return Err(e.into());
        }
        self.rows += 1;
        self.offset += self.scratch.len() as u64;
        Ok(())
    }

    /// Makes the rows written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.index.flush()
    }

    /// Writes out what is buffered and waits until the file is on disk, so that a job whose
    /// end is recorded has its whole result; returns the file's path. (The index is not
    /// synced: one cut short by a crash only makes reading slower.)
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        self.index.flush()?;
        Ok(self.path)
    }

    /// Gives the result set up: its file and row index are removed, so a statement that failed
    /// halfway leaves no partial result for a client to mistake for a whole one.
    pub fn discard(self) {
        let path = self.path.clone();
        drop(self);
        discard(&path);
    }
}

/// Removes what a writer that failed to start left behind.
fn discard(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = super::index::remove_index(path);
    let _ = std::fs::remove_file(super::cap::cut_note_path(path));
}

/// The metadata row: (name, type, comment) per column, a missing comment as NULL.
fn metadata_row(columns: &[Column]) -> Result<Vec<u8>, TableWriteError> {
    if columns.is_empty() {
        return Err(TableWriteError::NoColumns);
    }
    let values = columns.iter().flat_map(|c| {
        [Some(c.name.as_bytes()), Some(c.data_type.as_bytes()), c.comment.as_ref().map(|s| s.as_bytes())]
    });
    let mut row = Vec::new();
    encode_row(&mut row, values)?;
    Ok(row)
}

/// Encodes one row into `out` (replacing what it held): row length, index length, index,
/// values. Refuses a row over [`MAX_ROW_BYTES`] (counted as the row length, which is what a
/// reader must hold at once) before anything of it is kept.
fn encode_row<'a>(
    out: &mut Vec<u8>,
    values: impl Iterator<Item = Option<&'a [u8]>> + Clone,
) -> Result<(), TableWriteError> {
    out.clear();
    // Room for the two lengths, filled in once the index is known.
    out.extend_from_slice(&[b'0'; 20]);
    let mut data = 0usize;
    for value in values.clone() {
        let len = value.map_or(NULL_VALUE.len(), <[u8]>::len);
        push_decimal(out, len);
        out.push(b',');
        data = data.saturating_add(len);
    }
    let index = out.len() - 20;
    let row = (10 + index).saturating_add(data);
    if row > MAX_ROW_BYTES {
        out.clear();
        return Err(TableWriteError::RowTooLarge { bytes: row, limit: MAX_ROW_BYTES });
    }
    out[..10].copy_from_slice(&number(row));
    out[10..20].copy_from_slice(&number(index));
    out.reserve(data);
    for value in values {
        out.extend_from_slice(value.unwrap_or(NULL_VALUE.as_bytes()));
    }
    Ok(())
}
