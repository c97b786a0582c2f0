//! Result sets turned into the files Linkis's console downloads: CSV, produced row by row while
//! it is sent, and XLSX workbooks, written in constant memory to an unnamed temporary file.
//!
//! This module reads result sets through `storage::result_set` and knows nothing of HTTP: the
//! handlers decide which result sets and which options, and send what comes out. Memory never
//! grows with the number of rows: CSV holds one row's text at a time, XLSX one row of cells.

pub mod csv;
pub mod xlsx;

use std::borrow::Cow;

/// What the downloads do with values, whatever the format.
#[derive(Clone, Debug)]
pub struct Values {
    /// Written for a NULL (Linkis's default is the text `NULL`; empty leaves the cell empty).
    pub null_value: String,
    /// At most this many rows per result set; `None` for all of them.
    pub limit: Option<u64>,
}

impl Values {
    /// A value as text: NULL as `null_value`, invalid UTF-8 replaced.
    fn text<'a>(&'a self, value: Option<&'a [u8]>) -> Cow<'a, str> {
        match value {
            Some(bytes) => String::from_utf8_lossy(bytes),
            None => Cow::Borrowed(&self.null_value),
        }
    }
}

/// Why a download could not be produced.
#[derive(Debug)]
pub enum ExportError {
    Read(crate::storage::result_set::ReadError),
    Io(std::io::Error),
    /// The workbook writer refused (a bug here: names and values are made valid first).
    Xlsx(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Read(e) => write!(f, "cannot read the result set: {e}"),
            ExportError::Io(e) => write!(f, "cannot write the download: {e}"),
            ExportError::Xlsx(e) => write!(f, "cannot write the workbook: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<crate::storage::result_set::ReadError> for ExportError {
    fn from(e: crate::storage::result_set::ReadError) -> ExportError {
        ExportError::Read(e)
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> ExportError {
        ExportError::Io(e)
    }
}

impl From<rust_xlsxwriter::XlsxError> for ExportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> ExportError {
        ExportError::Xlsx(e.to_string())
    }
}
