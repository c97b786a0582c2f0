//! Dolphin result-set files, the format Linkis clients page through with `openFile`.
//!
//! A TEXT result set (type 1) is the 7 bytes `dolphin`, the type as a 10-digit number, then rows
//! of a 10-digit byte length followed by that many bytes; the first row is the metadata `NULL`.
//! Shell and Python jobs write their stdout lines into one such file, `_0.dolphin`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Header of a TEXT result set: magic, type 1, and the `NULL` metadata row.
const TEXT_HEADER: &[u8] = b"dolphin00000000010000000004NULL";

/// Longest row Linkis writes (2 MB); longer output lines are cut to this length.
pub const MAX_ROW_BYTES: usize = 2 * 1024 * 1024;

/// Appends rows to a TEXT result set.
pub struct TextResultWriter {
    file: BufWriter<File>,
}

impl TextResultWriter {
    /// Creates the file with its header.
    pub fn create(path: &Path) -> io::Result<TextResultWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = BufWriter::new(File::create(path)?);
        file.write_all(TEXT_HEADER)?;
        Ok(TextResultWriter { file })
    }

    /// Appends one row.
    pub fn row(&mut self, text: &[u8]) -> io::Result<()> {
        let text = &text[..text.len().min(MAX_ROW_BYTES)];
        write!(self.file, "{:010}", text.len())?;
        self.file.write_all(text)
    }

    /// Makes the rows written so far visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The result-set types Linkis clients know, by their wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    Text = 1,
    Table = 2,
}

/// One column of a TABLE result set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    /// `None` when the file stores no comment (Linkis shows the string `NULL`).
    pub comment: Option<String>,
}

/// One page of a result set. TEXT rows have one value; a `None` value is a SQL NULL.
#[derive(Debug, PartialEq, Eq)]
pub struct ResultPage {
    pub kind: ResultKind,
    /// The columns of a TABLE result set; empty for TEXT.
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The most a page may hold: memory per request stays bounded whatever the file holds.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// How Linkis writes a NULL value in a TABLE result set.
const NULL_VALUE: &str = "LINKIS_NULL";

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not a dolphin result set: {what}"))
}

/// Reads rows `(page - 1) * page_size ..` of a result set, skipping earlier rows by their
/// length prefixes without reading their contents, so memory is bounded by the page.
pub fn read_page(path: &Path, page: u64, page_size: u64) -> io::Result<ResultPage> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut magic = [0u8; 7];
    reader.read_exact(&mut magic).map_err(|_| invalid("too short"))?;
    if &magic != b"dolphin" {
        return Err(invalid("no dolphin header"));
    }
    let kind = match read_number(&mut reader)?.ok_or_else(|| invalid("no type"))? {
        1 => ResultKind::Text,
        2 => ResultKind::Table,
        other => return Err(invalid(&format!("unsupported type {other}"))),
    };
    let Some(metadata) = read_row(&mut reader, kind)? else {
        return Err(invalid("no metadata row"));
    };
    let columns = match kind {
        ResultKind::Text => Vec::new(),
        ResultKind::Table => metadata
            .chunks(3)
            .map(|c| Column {
                name: c.first().cloned().flatten().unwrap_or_default(),
                data_type: c.get(1).cloned().flatten().unwrap_or_default(),
                comment: c.get(2).cloned().flatten(),
            })
            .collect(),
    };
    let skip = page.saturating_sub(1).saturating_mul(page_size);
    for _ in 0..skip {
        if !skip_row(&mut reader)? {
            return Ok(ResultPage { kind, columns, rows: Vec::new() });
        }
    }
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    while (rows.len() as u64) < page_size {
        match read_row(&mut reader, kind)? {
            Some(row) => {
                bytes += row.iter().map(|v| v.as_ref().map_or(0, String::len)).sum::<usize>();
                if bytes > MAX_PAGE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("the page holds more than {MAX_PAGE_BYTES} bytes; ask for fewer rows per page"),
                    ));
                }
                rows.push(row);
            }
            None => break,
        }
    }
    Ok(ResultPage { kind, columns, rows })
}

/// A 10-digit number, or `None` at a clean end of file.
fn read_number(reader: &mut impl BufRead) -> io::Result<Option<u64>> {
    if reader.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut digits = [0u8; 10];
    reader.read_exact(&mut digits).map_err(|_| invalid("truncated length"))?;
    let text = std::str::from_utf8(&digits).map_err(|_| invalid("bad length"))?;
    text.parse().map(Some).map_err(|_| invalid("bad length"))
}

fn read_bytes(reader: &mut impl Read, len: u64) -> io::Result<Vec<u8>> {
    if len > 2 * MAX_ROW_BYTES as u64 {
        return Err(invalid("row too large"));
    }
    let mut bytes = vec![0u8; len as usize];
    reader.read_exact(&mut bytes).map_err(|_| invalid("truncated row"))?;
    Ok(bytes)
}

/// The next row's values, or `None` at the end of the file.
fn read_row(reader: &mut impl BufRead, kind: ResultKind) -> io::Result<Option<Vec<Option<String>>>> {
    let Some(len) = read_number(reader)? else {
        return Ok(None);
    };
    let bytes = read_bytes(reader, len)?;
    match kind {
        ResultKind::Text => Ok(Some(vec![Some(String::from_utf8_lossy(&bytes).into_owned())])),
        ResultKind::Table => {
            let index_len = std::str::from_utf8(bytes.get(..10).ok_or_else(|| invalid("short row"))?)
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| invalid("bad index length"))?;
            let index = bytes.get(10..10 + index_len).ok_or_else(|| invalid("short index"))?;
            let mut data = &bytes[10 + index_len..];
            let mut values = Vec::new();
            for size in
                std::str::from_utf8(index).map_err(|_| invalid("bad index"))?.split(',').filter(|s| !s.is_empty())
            {
                let size: usize = size.parse().map_err(|_| invalid("bad index entry"))?;
                let value = data.get(..size).ok_or_else(|| invalid("value past the row"))?;
                data = &data[size..];
                let text = String::from_utf8_lossy(value).into_owned();
                values.push((text != NULL_VALUE).then_some(text));
            }
            Ok(Some(values))
        }
    }
}

/// Skips one row; `false` at the end of the file.
fn skip_row(reader: &mut BufReader<File>) -> io::Result<bool> {
    let Some(len) = read_number(reader)? else {
        return Ok(false);
    };
    reader.seek_relative(len as i64)?;
    Ok(true)
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

#[cfg(test)]
mod reading {
    use super::*;

    #[test]
    fn pages_through_a_text_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let mut writer = TextResultWriter::create(&path).unwrap();
        for i in 1..=25 {
            writer.row(format!("row {i}").as_bytes()).unwrap();
        }
        writer.flush().unwrap();
        let page = read_page(&path, 3, 10).unwrap();
        assert_eq!(page.kind, ResultKind::Text);
        let rows: Vec<String> = page.rows.into_iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(rows, (21..=25).map(|i| format!("row {i}")).collect::<Vec<_>>());
        assert!(read_page(&path, 9, 10).unwrap().rows.is_empty());
    }

    #[test]
    fn reads_the_documented_table_example() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_1.dolphin");
        // Built from the documented parts (the concatenated example in linkis-api.md §7.5 has a
        // stray 0 in the record's index length).
        let file = [
            "dolphin0000000002",
            "0000000032",
            "0000000007",
            "1,3,11,",
            "aintLINKIS_NULL",
            "0000000013",
            "0000000002",
            "1,",
            "7",
        ];
        std::fs::write(&path, file.concat()).unwrap();
        let page = read_page(&path, 1, 10).unwrap();
        assert_eq!(page.kind, ResultKind::Table);
        assert_eq!(page.columns, [Column { name: "a".into(), data_type: "int".into(), comment: None }]);
        assert_eq!(page.rows, [vec![Some("7".to_string())]]);
    }

    #[test]
    fn refuses_files_that_are_not_result_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dolphin");
        for bad in ["", "dolphin", "dolphinXXXXXXXXXX", "dolphin0000000009", "dolphin00000000010000000099NULL"] {
            std::fs::write(&path, bad).unwrap();
            assert!(read_page(&path, 1, 10).is_err(), "{bad:?}");
        }
    }
}
