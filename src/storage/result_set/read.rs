//! Reading result sets row by row, never loading a file whole: the metadata once, then rows
//! one at a time into a buffer that is reused, earlier rows skipped along their length
//! prefixes without their contents being read. A file may still be growing (a job writing its
//! result): only complete rows are read, a row cut short at the end counts as not there yet.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::index::{IndexReader, STRIDE};
use super::{Column, ResultKind, MAX_ROW_BYTES, NULL_VALUE};

/// The most one page may hold: memory per request stays bounded whatever the file holds.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// What a cell costs an answer beyond its text (a JSON string, its quotes and comma, and a
/// `nullValue` of at most this many bytes in place of a NULL).
const CELL_OVERHEAD: usize = 96;

/// The largest row length the reader accepts: Linkis's row limit for the values plus room for
/// the index, so every file Linkis writes is read, and a corrupt length cannot make the
/// reader allocate without bound.
const MAX_READ_ROW_BYTES: u64 = 2 * MAX_ROW_BYTES as u64;

/// Why a result set could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The file is not a dolphin result set (or is damaged where the text says).
    Invalid(String),
    /// The requested rows hold more than [`MAX_PAGE_BYTES`]: ask for fewer at a time.
    PageTooLarge {
        limit: usize,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Invalid(what) => write!(f, "not a dolphin result set: {what}"),
            ReadError::PageTooLarge { limit } => {
                write!(f, "the page holds more than {limit} bytes; ask for fewer rows per page")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

fn invalid(what: &str) -> ReadError {
    ReadError::Invalid(what.to_string())
}

/// An open result set, positioned after its metadata.
pub struct ResultReader {
    reader: BufReader<File>,
    path: PathBuf,
    /// The row index beside the file, opened by the first skip long enough to use it (most
    /// reads start at the first row and never do): `None` until then.
    index: Option<Option<IndexReader>>,
    /// The number of the next row (0 is the first after the metadata).
    row: u64,
    /// Where the next row starts, and how long the file was when last asked: a skip must not
    /// count a row the file does not hold whole yet.
    offset: u64,
    file_len: u64,
    kind: ResultKind,
    columns: Vec<Column>,
    /// The current row's bytes and where each of its values lies in them (`None`: NULL).
    bytes: Vec<u8>,
    spans: Vec<Option<Range<usize>>>,
}

/// One row of a result set, borrowed from the reader until the next row is read. A TEXT row
/// has one value, never NULL.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    bytes: &'a [u8],
    spans: &'a [Option<Range<usize>>],
}

impl<'a> Row<'a> {
    /// How many values the row holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Value `i`: `None` for NULL, and for a value past the row's end (a short row reads as
    /// padded with NULLs, as Linkis's reader leaves missing cells empty).
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        self.spans.get(i).cloned().flatten().and_then(|span| bytes.get(span))
    }

    /// The values in order.
    #[cfg(test)]
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl ResultReader {
    /// Opens a result set and reads its header and metadata.
    pub fn open(path: &Path) -> Result<ResultReader, ReadError> {
        // Non-blocking, checked on the open descriptor: a FIFO swapped in after the caller's
        // check must not hang the thread that reads it.
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(invalid("not a regular file"));
        }
        let file_len = metadata.len();
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut magic = [0u8; 7];
        reader.read_exact(&mut magic).map_err(|_| invalid("too short"))?;
        if &magic != b"dolphin" {
            return Err(invalid("no dolphin header"));
        }
        let kind = match read_number(&mut reader)?.ok_or_else(|| invalid("no type"))? {
            1 => ResultKind::Text,
            2 => ResultKind::Table,
            other => return Err(ReadError::Invalid(format!("unsupported type {other}"))),
        };
        let mut result = ResultReader {
            reader,
            path: path.to_path_buf(),
            index: None,
            row: 0,
            offset: 17,
            file_len,
            kind,
            columns: Vec::new(),
            bytes: Vec::new(),
            spans: Vec::new(),
        };
        if !result.read_row()? {
            return Err(invalid("no metadata row"));
        }
        result.row = 0;
        if kind == ResultKind::Table {
            let metadata = Row { bytes: &result.bytes, spans: &result.spans };
            if metadata.is_empty() || metadata.len() % 3 != 0 {
                return Err(invalid("the metadata row does not hold (name, type, comment) per column"));
            }
            let text = |i: usize| metadata.get(i).map(|v| String::from_utf8_lossy(v).into_owned());
            result.columns = (0..metadata.len() / 3)
                .map(|c| Column {
                    name: text(3 * c).unwrap_or_default(),
                    data_type: text(3 * c + 1).unwrap_or_default(),
                    comment: text(3 * c + 2),
                })
                .collect();
        }
        Ok(result)
    }

    pub fn kind(&self) -> ResultKind {
        self.kind
    }

    /// The columns of a TABLE result set; empty for TEXT.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Skips up to `rows` rows (jumping along the row index where there is one, then by the
    /// rows' length prefixes); returns how many there were.
    pub fn skip(&mut self, rows: u64) -> Result<u64, ReadError> {
        let (start, target) = (self.row, self.row.saturating_add(rows));
        if rows >= STRIDE && self.index.is_none() {
            self.index = Some(IndexReader::open(&self.path, self.file_len));
        }
        if let Some((row, offset)) =
            self.index.as_mut().and_then(Option::as_mut).and_then(|index| index.jump(target, start))
        {
            self.reader.seek(SeekFrom::Start(offset))?;
            (self.row, self.offset) = (row, offset);
        }
        while self.row < target {
            let Some(len) = read_number(&mut self.reader)? else {
                break;
            };
            let end = self.offset + 10 + len;
            if end > self.file_len {
                self.file_len = self.reader.get_ref().metadata()?.len();
            }
            if end > self.file_len {
                // Not whole yet: leave the reader at the row's start, as at the end of a file.
                self.reader.seek_relative(-10)?;
                break;
            }
            self.reader.seek_relative(len as i64)?;
            (self.row, self.offset) = (self.row + 1, end);
        }
        Ok(self.row - start)
    }

    /// The next row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, ReadError> {
        Ok(self.read_row()?.then_some(Row { bytes: &self.bytes, spans: &self.spans }))
    }

    /// Rows `(page - 1) * page_size ..` (at most `page_size` of them), each cut to the values
    /// in `columns` (TEXT rows keep their one value), as text (invalid UTF-8 replaced).
    pub fn page(
        &mut self,
        page: u64,
        page_size: u64,
        columns: Range<usize>,
    ) -> Result<Vec<Vec<Option<String>>>, ReadError> {
        let skip = page.saturating_sub(1).saturating_mul(page_size);
        if self.skip(skip)? < skip {
            return Ok(Vec::new());
        }
        let columns = if self.kind == ResultKind::Text { 0..1 } else { columns };
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        while (rows.len() as u64) < page_size {
            let Some(row) = self.next_row()? else { break };
            let values: Vec<Option<String>> =
                columns.clone().map(|i| row.get(i).map(|v| String::from_utf8_lossy(v).into_owned())).collect();
            // Every cell counts, NULL and empty ones too: each becomes a JSON value, and a
            // client's `nullValue` may replace it with text of its own (capped by the caller).
            bytes += values.iter().map(|v| v.as_ref().map_or(0, String::len) + CELL_OVERHEAD).sum::<usize>();
            if bytes > MAX_PAGE_BYTES {
                return Err(ReadError::PageTooLarge { limit: MAX_PAGE_BYTES });
            }
            rows.push(values);
        }
        Ok(rows)
    }

    /// Reads the next row into the reused buffer; `false` at the end of the file.
    fn read_row(&mut self) -> Result<bool, ReadError> {
        let Some(len) = read_number(&mut self.reader)? else {
            return Ok(false);
        };
        if len > MAX_READ_ROW_BYTES {
            return Err(invalid("row too large"));
        }
        self.bytes.clear();
        self.bytes.resize(len as usize, 0);
        match self.reader.read_exact(&mut self.bytes) {
            // A row cut short at the end is one still being written: the file ends before it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            other => other?,
        }
        self.row += 1;
        self.offset += 10 + len;
        self.spans.clear();
        match self.kind {
            ResultKind::Text => self.spans.push(Some(0..self.bytes.len())),
            ResultKind::Table => split_table_row(&self.bytes, &mut self.spans)?,
        }
        Ok(true)
    }
}

/// Finds the values of a TABLE row (index length, index, values) without copying them.
fn split_table_row(bytes: &[u8], spans: &mut Vec<Option<Range<usize>>>) -> Result<(), ReadError> {
    let index_len = bytes.get(..10).and_then(parse_number).ok_or_else(|| invalid("bad index length"))? as usize;
    let index = bytes.get(10..10 + index_len).ok_or_else(|| invalid("short index"))?;
    let mut at = 10 + index_len;
    for entry in index.split(|b| *b == b',').filter(|e| !e.is_empty()) {
        let size = parse_decimal(entry).ok_or_else(|| invalid("bad index entry"))?;
        let end =
            at.checked_add(size).filter(|end| *end <= bytes.len()).ok_or_else(|| invalid("value past the row"))?;
        let is_null = &bytes[at..end] == NULL_VALUE.as_bytes();
        spans.push((!is_null).then_some(at..end));
        at = end;
    }
    Ok(())
}

/// A 10-digit number, or `None` at the end of the file (also when the number itself is cut
/// short there: the row it begins is still being written).
fn read_number(reader: &mut BufReader<File>) -> Result<Option<u64>, ReadError> {
    let available = reader.fill_buf()?;
    if available.is_empty() {
        return Ok(None);
    }
    // The common case reads straight from the buffer: skipping a row costs no copy.
    if let Some(digits) = available.get(..10) {
        let n = parse_number(digits).ok_or_else(|| invalid("bad length"))?;
        reader.consume(10);
        return Ok(Some(n));
    }
    let mut digits = [0u8; 10];
    match reader.read_exact(&mut digits) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    parse_number(&digits).map(Some).ok_or_else(|| invalid("bad length"))
}

/// Ten ASCII digits.
fn parse_number(digits: &[u8]) -> Option<u64> {
    (digits.len() == 10).then_some(())?;
    digits.iter().try_fold(0u64, |n, d| d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0')))
}

/// An index entry: up to 10 decimal digits.
fn parse_decimal(digits: &[u8]) -> Option<usize> {
    (digits.len() <= 10).then_some(())?;
    digits.iter().try_fold(0usize, |n, d| d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0')))
}
