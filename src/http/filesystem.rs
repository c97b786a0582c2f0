//! `/filesystem/*`: list result sets, page through one, read a whole log. Which paths a
//! caller may reach is decided in `reach.rs`.

use std::path::{Path, PathBuf};

mod reach;

pub(super) use reach::{expired_job, linkis_error, locate, resolve_file, uri_of, Found};

use serde_json::{json, Value};

use super::call::{integer_param, Call};
use super::message::{ApiError, Message};
use super::request::Request;
use crate::data_dir::UserTree;
use crate::storage::log_file::LevelSplit;
use crate::storage::result_set::{self, number_in_name, ReadError, ResultKind, ResultReader, NULL_VALUE};

/// Rows a page holds when the client does not say, and the most it may ask for (Linkis's).
const DEFAULT_PAGE_SIZE: u64 = 5000;
const MAX_PAGE_SIZE: u64 = 100_000;
/// Columns a table page holds when the client does not say, and the most it may ask for.
const MAX_COLUMN_PAGE_SIZE: u64 = 500;
/// `openLog` serves a whole log only up to this size; bigger ones are paged through the
/// entrance log endpoint.
const MAX_OPEN_LOG_BYTES: u64 = 30 * 1024 * 1024;

/// Entries a listing shows at most: a directory with more is refused rather than answered
/// with a listing of hundreds of megabytes.
const MAX_LISTED: usize = 10_000;

/// `GET filesystem/getDirFileTrees?path=`: one level of a directory.
pub fn dir_file_trees(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, caller, method } = call;
    let dir = match locate(context, request, caller, UserTree::Result)? {
        None => return Ok(Message::ok(method, json!({"dirFileTrees": null}))),
        Some(Found::Unmade(dir)) => {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tree = json!({
                "name": name, "path": uri_of(&dir), "properties": null, "isLeaf": false, "parentPath": null,
                "children": [],
            });
            return Ok(Message::ok(method, json!({"dirFileTrees": tree})));
        }
        Some(Found::Real(dir)) => dir,
    };
    let node = |path: &Path, parent: Option<&Path>| -> Value {
        let meta = std::fs::metadata(path).ok();
        let is_file = meta.as_ref().is_some_and(|m| m.is_file());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let properties = if is_file {
            let modified = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis());
            let mut properties =
                json!({"size": meta.as_ref().map_or(0, |m| m.len()).to_string(), "modifytime": modified.to_string()});
            // Beyond Linkis: a result set cut at its size cap says so (clients read
            // `properties` as a map of strings, so one more key is harmless).
            if result_set::was_cut(path) {
                properties["truncated"] = json!("true");
            }
            properties
        } else {
            json!({})
        };
        json!({
            "name": name,
            "path": uri_of(path),
            "properties": properties,
            "isLeaf": is_file,
            "parentPath": parent.map(uri_of),
            "children": null,
        })
    };
    let mut tree = node(&dir, None);
    tree["properties"] = Value::Null;
    if dir.is_dir() {
        let permit = context.large_answer()?;
        let mut children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| ApiError::Internal(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| !is_hidden(path))
            .take(MAX_LISTED + 1)
            .collect();
        if children.len() > MAX_LISTED {
            return Err(ApiError::BadRequest(format!(
                "{} holds more than {MAX_LISTED} entries; list a directory below it",
                uri_of(&dir)
            )));
        }
        drop(permit);
        children.sort_by_cached_key(|p| result_order(p));
        tree["children"] = Value::Array(children.iter().map(|child| node(child, Some(&dir))).collect());
    }
    Ok(Message::ok(method, json!({"dirFileTrees": tree})))
}

/// Portico's own files in a result directory (a table's row index) start with a dot; clients
/// are shown only result sets.
fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
}

/// Result sets sort by the number in their name (`_2` before `_10`), as Linkis clients expect.
pub(super) fn result_order(path: &Path) -> (u64, String) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (number_in_name(&name).unwrap_or(u64::MAX), name)
}

/// A positive count parameter; absent, blank or below 1 means `default`.
fn count_param(request: &Request, name: &str, default: u64) -> Result<u64, ApiError> {
    Ok(integer_param(request, name)?.filter(|n| *n >= 1).map_or(default, |n| n as u64))
}

/// `columnPage` or `columnPageSize`: absent or blank means `default`; below 1 or above `max`
/// is Linkis's 80036.
fn column_param(request: &Request, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match integer_param(request, name)? {
        None => Ok(default),
        Some(n) if n >= 1 && n as u64 <= max => Ok(n as u64),
        Some(_) => Err(column_window_refused()),
    }
}

fn column_window_refused() -> ApiError {
    linkis_error(
        80036,
        format!(
            "Parameter error, page size is incorrect, please pass in a number within [1-{MAX_COLUMN_PAGE_SIZE}] \
             (分页参数错误，页码从1开始，页大小需在[1-{MAX_COLUMN_PAGE_SIZE}]范围内，获取的列索引需在实际结果集列数范围内)"
        ),
    )
}

/// A result set that cannot be read, as the client is told.
pub(super) fn read_refused(path: &Path, error: ReadError) -> ApiError {
    match error {
        ReadError::PageTooLarge { .. } => linkis_error(80034, error.to_string()),
        ReadError::Invalid(_) => linkis_error(80003, format!("{} is not a result set file: {error}", uri_of(path))),
        ReadError::Io(e) => linkis_error(80032, format!("cannot read {}: {e}", uri_of(path))),
    }
}

/// The longest `nullValue` accepted: it stands in for every NULL of an answer, so a long one
/// would multiply a result's size.
pub(super) const MAX_NULL_VALUE_CHARS: usize = 64;

/// The `nullValue` parameter, refused when it is longer than [`MAX_NULL_VALUE_CHARS`].
pub(super) fn null_value_param(request: &Request) -> Result<Option<String>, ApiError> {
    match request.param("nullValue") {
        Some(v) if v.chars().count() > MAX_NULL_VALUE_CHARS => {
            Err(ApiError::BadRequest(format!("nullValue may be at most {MAX_NULL_VALUE_CHARS} characters")))
        }
        other => Ok(other),
    }
}

/// What `nullValue` asks for: Linkis's default shows NULL as the text `NULL`, `LINKIS_NULL`
/// as a JSON null, anything else replaces NULLs and empty values.
fn shown_value(value: Option<String>, null_value: &str) -> Value {
    match (value, null_value) {
        (None, NULL_VALUE) => Value::Null,
        (None, "") => json!("NULL"),
        (None, replacement) => json!(replacement),
        (Some(v), replacement) if v.is_empty() && !replacement.is_empty() && replacement != NULL_VALUE => {
            json!(replacement)
        }
        (Some(v), _) => Value::String(v),
    }
}

/// `GET filesystem/openFile?path=&page=&pageSize=&nullValue=&columnPage=&columnPageSize=`: one
/// page of a result set; for a table, the columns of one column page.
pub fn open_file(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    let path = resolve_file(call, UserTree::Result)?;
    let page = count_param(request, "page", 1)?;
    let page_size = count_param(request, "pageSize", DEFAULT_PAGE_SIZE)?;
    if page_size > MAX_PAGE_SIZE {
        return Err(linkis_error(
            80034,
            format!(
                "The result set exceeds {MAX_PAGE_SIZE} rows and page viewing is currently not supported. \
                 Please download to view or view in the shared directory\
                 (结果集行数超过{MAX_PAGE_SIZE}行，暂不支持页面查看。请下载查看或在共享目录中查看)"
            ),
        ));
    }
    let column_page = column_param(request, "columnPage", 1, u64::MAX)?;
    let column_page_size = column_param(request, "columnPageSize", MAX_COLUMN_PAGE_SIZE, MAX_COLUMN_PAGE_SIZE)?;
    let permit = context.large_answer()?;
    let mut reader = ResultReader::open(&path).map_err(|e| read_refused(&path, e))?;
    let total_columns = reader.columns().len() as u64;
    let first = (column_page - 1).saturating_mul(column_page_size);
    if reader.kind() == ResultKind::Table && first > total_columns {
        return Err(column_window_refused());
    }
    let window = first as usize..first.saturating_add(column_page_size).min(total_columns) as usize;
    let rows = reader.page(page, page_size, window.clone()).map_err(|e| read_refused(&path, e))?;
    let null_value = null_value_param(request)?.unwrap_or_default();
    let total_line = rows.len();
    let content: Vec<Value> = rows
        .into_iter()
        .map(|row| Value::Array(row.into_iter().map(|v| shown_value(v, &null_value)).collect()))
        .collect();
    let mut data = json!({
        "fileContent": content,
        "type": (reader.kind() as u8).to_string(),
        "totalLine": total_line,
        "page": page,
        "totalPage": 0,
    });
    match reader.kind() {
        ResultKind::Text => data["metadata"] = json!("NULL"),
        ResultKind::Table => {
            let columns = reader.columns().get(window).unwrap_or_default();
            data["metadata"] = columns
                .iter()
                .map(|c| json!({"columnName": c.name, "dataType": c.data_type, "comment": c.comment.as_deref().unwrap_or("NULL")}))
                .collect();
            data["totalColumn"] = json!(total_columns);
        }
    }
    Ok(Message::ok(method, data).holding(Box::new(permit)))
}

/// `GET filesystem/openLog?path=&logLevel=`: a whole job log in the four-slot form.
pub fn open_log(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    let path = resolve_file(call, UserTree::Log)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_OPEN_LOG_BYTES {
        return Err(linkis_error(
            80033,
            format!("The log is {size} bytes, more than openLog serves; page through it with /entrance/{{taskID}}/log"),
        ));
    }
    let permit = context.large_answer()?;
    let text = std::fs::read(&path).map_err(|_| linkis_error(80018, "The log cannot be read(没有读取权限)".into()))?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let split = LevelSplit::of(&lines, true);
    let levels = request.param("logLevel").unwrap_or_else(|| "all".into()).to_ascii_lowercase();
    let wanted = |level: &str| levels.split(',').any(|l| l.trim() == level || l.trim() == "all");
    let [error, warn, info, all] = split.into_array();
    let keep = |slot: String, level: &str| if wanted(level) { slot } else { String::new() };
    Ok(Message::ok(method, json!({"log": [keep(error, "error"), keep(warn, "warn"), keep(info, "info"), all]}))
        .holding(Box::new(permit)))
}
