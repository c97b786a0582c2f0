//! `/filesystem/resultsetToExcel` and `/filesystem/resultsetsToExcel`: result sets downloaded as
//! attachments, CSV or XLSX, with the parameters Linkis's console sends.
//!
//! Which files a caller may reach is decided by the same resolve-and-check step as `openFile`.
//! The answer is a stream: a CSV is produced row by row as the client takes it; an XLSX is
//! written into an unnamed temporary file under `<data-dir>/tmp` first (the format cannot be
//! streamed while it is made) and that file is sent. Either way the server holds a buffer, not
//! the result, and a large-answer permit until the last byte has left. Everything that can be
//! refused is refused before the first byte, in the envelope; a failure after it cuts the
//! connection, so a client never takes a cut file for a whole one.

use std::path::PathBuf;

use super::call::{integer_param, Call, Context};
use super::filesystem::{linkis_error, locate, read_refused, resolve_file, result_order, uri_of, Found};
use super::message::{Answer, ApiError};
use super::request::Request;
use super::response::Response;
use crate::data_dir::UserTree;
use crate::export::csv::{CsvOptions, CsvStream};
use crate::export::{xlsx, ExportError, Values};
use crate::logging::shown;
use crate::storage::result_set::{is_result_file, ResultKind, ResultReader};

const DEFAULT_FILE_NAME: &str = "downloadResultset";
const XLSX_CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Result sets one workbook takes: each sheet keeps a temporary file open until the workbook
/// is zipped.
const MAX_SHEETS: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileType {
    Csv,
    Xlsx,
}

/// `GET filesystem/resultsetToExcel?path=&outputFileType=csv|xlsx&…`: one result set.
pub fn resultset(call: Call<'_>) -> Result<Answer, ApiError> {
    let Call { context, request, .. } = call;
    let path = resolve_file(call, UserTree::Result)?;
    let file_type = file_type(request)?;
    let values = values(request)?;
    let csv = match file_type {
        FileType::Csv => {
            check_charset(request)?;
            let keep_newlines = flag(request, "keepNewline");
            Some(CsvOptions { separator: separator(request)?, keep_newlines, values: values.clone() })
        }
        FileType::Xlsx => None,
    };
    let permit = context.download_turn()?;
    let reader = ResultReader::open(&path).map_err(|e| read_refused(&path, e))?;
    let (response, extension) = match csv {
        Some(options) => {
            let content_type = match reader.kind() {
                ResultKind::Table => "text/csv; charset=utf-8",
                ResultKind::Text => "text/plain; charset=utf-8",
            };
            let stream = CsvStream::new(reader, options);
            (Response::stream(200, Box::new(stream), None).with_header("Content-Type", content_type), "csv")
        }
        None => {
            if reader.kind() != ResultKind::Table {
                return Err(not_a_table());
            }
            let sheet = request.param("sheetName").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "result".into());
            (workbook(context, &[(sheet, path)], &values)?, "xlsx")
        }
    };
    Ok(Answer::Raw(attachment(response, request, extension).holding(Box::new(permit))))
}

/// `GET filesystem/resultsetsToExcel?path=<result dir>&…`: one workbook, a sheet per TABLE
/// result set of the directory (`resultset0`, `resultset1`, … in the sets' order; TEXT sets,
/// a job's stdout, are left out).
pub fn resultsets(call: Call<'_>) -> Result<Answer, ApiError> {
    let Call { context, request, caller, .. } = call;
    let dir = match locate(context, request, caller, UserTree::Result)? {
        Some(Found::Real(dir)) => dir,
        // A job's result directory, made with its first result set: none yet.
        Some(Found::Unmade(_)) => return Err(linkis_error(80029, "Empty dir(空目录)!".into())),
        None => return Err(linkis_error(80003, "The directory does not exist(目录不存在)".into())),
    };
    if !dir.is_dir() {
        return Err(linkis_error(80003, format!("{} is not a result directory", uri_of(&dir))));
    }
    let values = values(request)?;
    let permit = context.download_turn()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| ApiError::Internal(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok())
        // Regular files only: a symlink in the directory could lead where openFile's check of
        // the real path would not let the caller go.
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .filter(|p| p.file_name().is_some_and(|n| is_result_file(&n.to_string_lossy())))
        .collect();
    if files.is_empty() {
        return Err(linkis_error(80029, "Empty dir(空目录)!".into()));
    }
    if files.len() > MAX_SHEETS {
        return Err(ApiError::BadRequest(format!(
            "The directory holds {} result sets; one workbook takes at most {MAX_SHEETS}: download them one by one",
            files.len()
        )));
    }
    files.sort_by_cached_key(|p| result_order(p));
    let mut sheets = Vec::new();
    for path in files {
        let reader = ResultReader::open(&path).map_err(|e| read_refused(&path, e))?;
        if reader.kind() == ResultKind::Table {
            sheets.push((format!("resultset{}", sheets.len()), path));
        }
    }
    if sheets.is_empty() {
        return Err(not_a_table());
    }
    let response = workbook(context, &sheets, &values)?;
    Ok(Answer::Raw(attachment(response, request, "xlsx").holding(Box::new(permit))))
}

/// A workbook of `sheets` (name, result set) written to an unnamed file, as an answer.
fn workbook(context: &Context, sheets: &[(String, PathBuf)], values: &Values) -> Result<Response, ApiError> {
    // The data directory's own scratch space, created at start-up (private, like the directory).
    let (file, length) = xlsx::workbook(sheets, values, &context.layout.tmp()).map_err(|e| export_failed(&e))?;
    Ok(Response::stream(200, Box::new(file), Some(length)).with_header("Content-Type", XLSX_CONTENT_TYPE))
}

fn export_failed(error: &ExportError) -> ApiError {
    match error {
        ExportError::Read(_) => linkis_error(80023, format!("Download failed(下载失败): {error}")),
        ExportError::Io(_) | ExportError::Xlsx(_) => ApiError::Internal(error.to_string()),
    }
}

fn not_a_table() -> ApiError {
    linkis_error(
        80024,
        "Non-tabular result sets cannot be downloaded as excel(非table类型的结果集不能下载为excel)".into(),
    )
}

/// The answer as an attachment named after `outputFileName`.
fn attachment(response: Response, request: &Request, extension: &str) -> Response {
    let name = format!("{}.{extension}", file_name(request.param("outputFileName").as_deref().unwrap_or("")));
    response.with_header("Content-Disposition", disposition(&name)).with_header("X-Content-Type-Options", "nosniff")
}

/// `outputFileType`: `csv` (the default) or `xlsx`; anything else is Linkis's 80015.
fn file_type(request: &Request) -> Result<FileType, ApiError> {
    match request.param("outputFileType").map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("csv") => Ok(FileType::Csv),
        Some("xlsx") => Ok(FileType::Xlsx),
        Some(_) => Err(linkis_error(80015, "Unsupported resultset output type(不支持的结果集输出类型)".into())),
    }
}

/// `nullValue` (default `NULL`, `BLANK` for nothing) and `limit` (rows; 0 or absent for all).
fn values(request: &Request) -> Result<Values, ApiError> {
    let null_value = match super::filesystem::null_value_param(request)? {
        None => "NULL".to_string(),
        Some(v) if v.is_empty() => "NULL".to_string(),
        Some(v) if v.eq_ignore_ascii_case("BLANK") => String::new(),
        Some(v) => v,
    };
    let limit = integer_param(request, "limit")?.filter(|n| *n > 0).map(|n| n as u64);
    Ok(Values { null_value, limit })
}

fn flag(request: &Request, name: &str) -> bool {
    request.param(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Downloads are UTF-8; any other charset is refused before anything is sent, rather than
/// sent in an encoding the client did not ask for.
fn check_charset(request: &Request) -> Result<(), ApiError> {
    let Some(charset) = request.param("charset").filter(|c| !c.trim().is_empty()) else {
        return Ok(());
    };
    let normalized: String = charset.chars().filter(|c| !matches!(c, '-' | '_')).collect();
    if normalized.trim().eq_ignore_ascii_case("utf8") {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "The charset {} cannot be written: downloads are encoded in UTF-8 only (charset=utf-8)",
            shown(&charset)
        )))
    }
}

/// The CSV separator: `csvSeparator`, or Linkis's misspelled `csvSeperator` when only that
/// one says something other than the default `,` (Linkis's rule); `t` or blank is a tab.
fn separator(request: &Request) -> Result<char, ApiError> {
    let chosen = match (request.param("csvSeparator"), request.param("csvSeperator")) {
        (Some(right), Some(wrong)) if right == "," && wrong != "," => wrong,
        (Some(right), _) => right,
        (None, Some(wrong)) => wrong,
        (None, None) => ",".to_string(),
    };
    let chosen = match chosen.as_str() {
        blank if blank.trim().is_empty() => "\t",
        "t" | "\\t" => "\t",
        other => other,
    };
    let mut chars = chosen.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !matches!(c, '"' | '\r' | '\n') => Ok(c),
        _ => Err(ApiError::BadRequest(format!(
            "csvSeparator must be one character other than a quote or a line break (t for a tab), not {}",
            shown(chosen)
        ))),
    }
}

/// A file name safe in a header and on any disk: no path, quotes or control characters, at
/// most 100 characters, `downloadResultset` when nothing is left.
fn file_name(requested: &str) -> String {
    let cleaned: String =
        requested.chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"')).take(100).collect();
    let trimmed = cleaned.trim().trim_matches('.').trim();
    if trimmed.is_empty() {
        DEFAULT_FILE_NAME.to_string()
    } else {
        trimmed.to_string()
    }
}

/// `Content-Disposition` for `name`: an ASCII `filename` for old clients and the exact name as
/// RFC 5987 `filename*`.
fn disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(file_name(""), DEFAULT_FILE_NAME);
        assert_eq!(file_name("../../etc/passwd"), "etcpasswd");
        assert_eq!(file_name("a\"b\r\nc"), "abc");
        assert_eq!(file_name(&"x".repeat(300)).len(), 100);
        assert_eq!(
            disposition("结果 1.csv"),
            "attachment; filename=\"__ 1.csv\"; filename*=UTF-8''%E7%BB%93%E6%9E%9C%201.csv"
        );
    }
}
