//! CSV from a result set, produced as it is sent: [`CsvStream`] is a `Read` that turns rows into
//! text a few kilobytes at a time, so a download of any size holds one buffer.
//!
//! A TABLE becomes RFC 4180 CSV: a header row of column names, CRLF after every row, a field
//! quoted when it holds the separator, a quote, CR or LF, and quotes inside doubled. Unless
//! `keep_newlines` is asked for, line breaks inside values become spaces first (Linkis's
//! `keepNewline=false`), so every row is one line for line-based tools. A TEXT result set
//! (a job's stdout) is its lines, each ended by LF, as Linkis serves it.

use std::borrow::Cow;
use std::io::{self, Read};

use super::{ExportError, Values};
use crate::storage::result_set::{ResultKind, ResultReader, Row};

/// Text produced per refill: enough to make each read worth it, small enough to keep.
const FILL_BYTES: usize = 32 * 1024;

/// How the CSV is written.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// One character; never a quote, CR or LF (the handler checks).
    pub separator: char,
    pub keep_newlines: bool,
    pub values: Values,
}

/// A result set as CSV bytes, read as they are produced.
pub struct CsvStream {
    reader: ResultReader,
    options: CsvOptions,
    header_written: bool,
    rows_left: Option<u64>,
    out: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl CsvStream {
    pub fn new(reader: ResultReader, options: CsvOptions) -> CsvStream {
        let rows_left = options.values.limit;
        CsvStream { reader, options, header_written: false, rows_left, out: Vec::new(), pos: 0, ended: false }
    }

    /// Produces the next few kilobytes of text into `out`.
    fn fill(&mut self) -> Result<(), ExportError> {
        let CsvStream { reader, options, header_written, rows_left, out, pos, ended } = self;
        out.clear();
        *pos = 0;
        let table = reader.kind() == ResultKind::Table;
        if table && !*header_written {
            *header_written = true;
            let names = reader.columns().iter().map(|c| Cow::Borrowed(c.name.as_str()));
            push_record(out, names, options);
        }
        while out.len() < FILL_BYTES {
            if *rows_left == Some(0) {
                *ended = true;
                return Ok(());
            }
            let Some(row) = reader.next_row()? else {
                *ended = true;
                return Ok(());
            };
            *rows_left = rows_left.map(|n| n - 1);
            if table {
                push_record(out, values(&row, &options.values), options);
            } else {
                out.extend_from_slice(row.get(0).unwrap_or_default());
                out.push(b'\n');
            }
        }
        Ok(())
    }
}

fn values<'a>(row: &Row<'a>, values: &'a Values) -> impl Iterator<Item = Cow<'a, str>> + 'a {
    let row = *row;
    (0..row.len()).map(move |i| values.text(row.get(i)))
}

impl Read for CsvStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.ended {
                return Ok(0);
            }
            self.fill().map_err(io::Error::other)?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One record: the fields, separated, quoted where they must be, and CRLF.
fn push_record<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = Cow<'a, str>>, options: &CsvOptions) {
    let mut separator = [0u8; 4];
    let separator: &str = options.separator.encode_utf8(&mut separator);
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.extend_from_slice(separator.as_bytes());
        }
        push_field(out, &field, options.separator, options.keep_newlines);
    }
    out.extend_from_slice(b"\r\n");
}

fn push_field(out: &mut Vec<u8>, value: &str, separator: char, keep_newlines: bool) {
    let value: Cow<str> = if !keep_newlines && value.contains(['\r', '\n']) {
        Cow::Owned(value.replace("\r\n", " ").replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains(separator) || value.contains(['"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::result_set::{Column, TableResultWriter, TextResultWriter};

    fn csv(path: &std::path::Path, separator: char, keep_newlines: bool, limit: Option<u64>) -> String {
        let values = Values { null_value: "NULL".into(), limit };
        let mut stream =
            CsvStream::new(ResultReader::open(path).unwrap(), CsvOptions { separator, keep_newlines, values });
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn tables_become_rfc_4180_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let columns = [Column::new("id", "int"), Column::new("text, quoted", "string")];
        let mut writer = TableResultWriter::create(&path, &columns).unwrap();
        writer.row(&[Some("1"), Some("plain")]).unwrap();
        writer.row(&[Some("2"), Some("a,b \"q\"")]).unwrap();
        writer.row(&[None, Some("two\r\nlines\nhere")]).unwrap();
        writer.row(&[Some("4"), Some("")]).unwrap();
        writer.finish().unwrap();
        assert_eq!(
            csv(&path, ',', false, None),
            "id,\"text, quoted\"\r\n1,plain\r\n2,\"a,b \"\"q\"\"\"\r\nNULL,two lines here\r\n4,\r\n"
        );
        assert_eq!(
            csv(&path, ';', true, Some(3)),
            "id;text, quoted\r\n1;plain\r\n2;\"a,b \"\"q\"\"\"\r\nNULL;\"two\r\nlines\nhere\"\r\n"
        );
        assert_eq!(csv(&path, '\t', false, Some(1)), "id\ttext, quoted\r\n1\tplain\r\n");
    }

    #[test]
    fn many_rows_come_out_in_pieces_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let mut writer = TableResultWriter::create(&path, &[Column::new("n", "int")]).unwrap();
        for i in 0..20_000 {
            writer.row(&[Some(i.to_string())]).unwrap();
        }
        writer.finish().unwrap();
        let text = csv(&path, ',', false, None);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 20_002, "header, rows, and the empty rest after the last CRLF");
        assert_eq!((lines[1], lines[20_000], lines[20_001]), ("0", "19999", ""));
    }

    #[test]
    fn text_results_are_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let mut writer = TextResultWriter::create(&path).unwrap();
        writer.row(b"hello, world").unwrap();
        writer.row(b"\"as is\"").unwrap();
        writer.flush().unwrap();
        assert_eq!(csv(&path, ',', false, None), "hello, world\n\"as is\"\n");
    }
}
