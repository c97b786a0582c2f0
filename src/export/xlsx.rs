//! XLSX workbooks from TABLE result sets, one sheet per result set, as Linkis's console
//! downloads them: a bold header row of column names, then every value as a text cell.
//!
//! rust_xlsxwriter writes each sheet in constant-memory mode (a row's cells go to an unnamed
//! temporary file as soon as the next row starts, strings inline), then zips the workbook into
//! another unnamed temporary file that the caller streams out. Unnamed files (`O_TMPFILE`)
//! disappear when closed, however the server ends. An XLSX cannot be streamed as it is made:
//! its zip directory comes last and the writer needs to seek.
//!
//! Excel's own limits are kept rather than failing the whole download: a sheet holds at most
//! 1,048,575 data rows and 16,384 columns, a cell at most 32,767 characters, a sheet name at
//! most 31 characters without `[]:*?/\`.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook};

use super::{ExportError, Values};
use crate::storage::result_set::ResultReader;

/// Rows a sheet holds below its header (Excel's 1,048,576 rows, less the header).
pub const MAX_SHEET_ROWS: u64 = 1_048_575;
/// Columns a sheet holds.
pub const MAX_SHEET_COLUMNS: usize = 16_384;
/// Characters a cell holds.
const MAX_CELL_CHARS: usize = 32_767;
/// Characters a sheet name holds.
const MAX_SHEET_NAME_CHARS: usize = 31;

/// Writes one sheet per `(name, TABLE result set)` into a workbook in an unnamed file in
/// `temp_dir`; returns the file, positioned at its start, and its length. Each result set is
/// opened only while its sheet is written.
pub fn workbook(sheets: &[(String, PathBuf)], values: &Values, temp_dir: &Path) -> Result<(File, u64), ExportError> {
    let mut workbook = Workbook::new();
    workbook.set_tempdir(temp_dir)?;
    let bold = Format::new().set_bold();
    // Linkis formats its cells as text ("@"); here only empty ones need it: Excel keeps a blank
    // cell only when it has a format.
    let empty = Format::new().set_num_format("@");
    for (name, path) in sheets {
        let mut table = ResultReader::open(path)?;
        let sheet = workbook.add_worksheet_with_constant_memory();
        sheet.set_name(sheet_name(name))?;
        let columns = table.columns().len().min(MAX_SHEET_COLUMNS);
        for (c, column) in table.columns().iter().take(columns).enumerate() {
            sheet.write_string_with_format(0, c as u16, cell(&column.name), &bold)?;
        }
        let rows = values.limit.unwrap_or(MAX_SHEET_ROWS).min(MAX_SHEET_ROWS);
        let mut r = 0u64;
        while r < rows {
            let Some(row) = table.next_row()? else { break };
            r += 1;
            for c in 0..columns.min(row.len()) {
                let text = values.text(row.get(c));
                // Excel has no empty text: an empty value is a (formatted) blank cell, so that a
                // row of nothing but empty values still counts as a row.
                if text.is_empty() {
                    sheet.write_blank(r as u32, c as u16, &empty)?;
                } else {
                    sheet.write_string(r as u32, c as u16, cell(&text))?;
                }
            }
        }
    }
    let mut file = tempfile::tempfile_in(temp_dir)?;
    workbook.save_to_writer(&mut file)?;
    let length = file.seek(SeekFrom::End(0))?;
    file.rewind()?;
    Ok((file, length))
}

/// A value cut to what a cell holds.
fn cell(text: &str) -> &str {
    match text.char_indices().nth(MAX_CELL_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A name Excel accepts for a sheet: forbidden characters become `_`, cut to 31 characters,
/// no apostrophe at either end, `result` when nothing is left.
pub fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) || c.is_control() { '_' } else { c })
        .take(MAX_SHEET_NAME_CHARS)
        .collect();
    // Apostrophes and spaces may nest (`a' `): trim both until neither is at an end.
    let trimmed = cleaned.trim_matches(|c: char| c == '\'' || c.is_whitespace());
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("history") {
        "result".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::result_set::{Column, TableResultWriter};

    #[test]
    fn sheet_names_are_made_acceptable() {
        assert_eq!(sheet_name("sales/2024: [q1]?"), "sales_2024_ _q1__");
        assert_eq!(sheet_name(&"x".repeat(40)), "x".repeat(31));
        assert_eq!(sheet_name("'quoted'"), "quoted");
        assert_eq!(sheet_name("  "), "result");
        assert_eq!(sheet_name("History"), "result");
        assert_eq!(sheet_name("名前"), "名前");
    }

    #[test]
    fn cells_are_cut_to_what_excel_holds() {
        let long = "é".repeat(MAX_CELL_CHARS + 5);
        assert_eq!(cell(&long).chars().count(), MAX_CELL_CHARS);
        assert_eq!(cell("short"), "short");
    }

    #[test]
    fn a_workbook_is_a_zip_in_an_unnamed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_0.dolphin");
        let mut writer =
            TableResultWriter::create(&path, &[Column::new("a", "int"), Column::new("b", "string")]).unwrap();
        writer.row(&[Some("1"), None]).unwrap();
        writer.row(&[Some("2"), Some("x".repeat(40_000).as_str())]).unwrap();
        writer.finish().unwrap();
        let temp = dir.path().join("tmp");
        std::fs::create_dir(&temp).unwrap();
        let values = Values { null_value: String::new(), limit: None };
        let (mut file, length) = workbook(&[("result".to_string(), path)], &values, &temp).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, length);
        assert!(bytes.starts_with(b"PK\x03\x04"), "a zip file");
        assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0, "nothing is left with a name");
    }
}
