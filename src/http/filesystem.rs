//! `/filesystem/*`: list result sets, page through one, read a whole log.
//!
//! Only the caller's own result and log trees under the data directory can be reached (an
//! admin's reach is every user's). Paths arrive as `file://` URIs; `..` segments are refused
//! outright, and everything else is resolved through the real filesystem (following symlinks)
//! before the check, so a symlink cannot lead out.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::auth::Caller;
use super::call::{integer_param, Call, Context};
use super::message::{ApiError, Message};
use super::request::Request;
use crate::data_dir::{Layout, UserTree};
use crate::storage::log_file::LevelSplit;
use crate::storage::result_set::{self, ResultKind};

/// Rows a page holds when the client does not say, and the most it may ask for (Linkis's).
const DEFAULT_PAGE_SIZE: u64 = 5000;
const MAX_PAGE_SIZE: u64 = 100_000;
/// `openLog` serves a whole log only up to this size; bigger ones are paged through the
/// entrance log endpoint.
const MAX_OPEN_LOG_BYTES: u64 = 30 * 1024 * 1024;

/// Which of a user's trees a path must be in.
#[derive(Clone, Copy)]
enum Tree {
    Result,
    Log,
}

impl Tree {
    /// The extension of the files this tree serves, and what they are called in errors.
    fn file_kind(self) -> (&'static str, &'static str) {
        match self {
            Tree::Result => ("dolphin", "a result set file"),
            Tree::Log => ("log", "a job log"),
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Tree::Result => UserTree::Result.dir_name(),
            Tree::Log => UserTree::Log.dir_name(),
        }
    }
}

fn linkis_error(code: u32, desc: String) -> ApiError {
    ApiError::BadRequest(format!("error code(错误码): {code}, error message(错误信息): {desc}."))
}

/// The `path` parameter as a real path inside the caller's `tree`; `Ok(None)` if it does not
/// exist (Linkis answers that with an empty listing, not an error).
fn resolve(context: &Context, request: &Request, caller: &Caller, tree: Tree) -> Result<Option<PathBuf>, ApiError> {
    let uri = request.param("path").unwrap_or_default();
    if uri.trim().is_empty() {
        return Err(linkis_error(80004, "The path: is empty(路径: 为空)!".into()));
    }
    let Some(path) = uri.strip_prefix("file://") else {
        return Err(linkis_error(80025, format!("The path {uri} must be a file:// URI")));
    };
    if !path.starts_with('/') {
        return Err(linkis_error(80025, format!("The path {uri} must be absolute (file:///...)")));
    }
    if Path::new(path).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(linkis_error(80026, format!("The path {uri} may not contain ../")));
    }
    // Checked on the text first, so that nothing about paths outside the caller's tree (not
    // even whether they exist) can be learnt; then again on the real path, for symlinks.
    let users = Layout::new(&context.config.data_dir).users();
    if !within_tree(Path::new(path), &users, caller, tree) {
        return Err(no_permission(caller, &uri));
    }
    let real = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(no_permission(caller, &uri)),
    };
    if within_tree(&real, &users, caller, tree) {
        Ok(Some(real))
    } else {
        Err(no_permission(caller, &uri))
    }
}

/// Whether `path` lies in the caller's own `tree` (`users/<caller>/<tree>/...`), or, for an
/// admin, in any user's.
fn within_tree(path: &Path, users: &Path, caller: &Caller, tree: Tree) -> bool {
    let Ok(rest) = path.strip_prefix(users) else {
        return false;
    };
    let mut parts = rest.components();
    let (Some(owner), Some(kind)) = (parts.next(), parts.next()) else {
        return false;
    };
    kind.as_os_str() == tree.dir_name() && (caller.admin || owner.as_os_str() == caller.user.as_str())
}

/// The `path` parameter as an existing file of `tree`'s kind inside the caller's tree.
fn resolve_file(call: Call<'_>, tree: Tree) -> Result<PathBuf, ApiError> {
    let path = resolve(call.context, call.request, call.caller, tree)?
        .ok_or_else(|| linkis_error(80003, "The file does not exist(文件不存在)".into()))?;
    let (extension, kind) = tree.file_kind();
    if !path.is_file() || path.extension().is_none_or(|e| e != extension) {
        return Err(linkis_error(80003, format!("{} is not {kind}", uri_of(&path))));
    }
    Ok(path)
}

fn no_permission(caller: &Caller, uri: &str) -> ApiError {
    linkis_error(
        80010,
        format!(
            "The user: {} has no permission to view the contents of the directory:{uri}(没有权限查看该目录的内容)",
            caller.user
        ),
    )
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `GET filesystem/getDirFileTrees?path=`: one level of a directory.
pub fn dir_file_trees(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, caller, method } = call;
    let Some(dir) = resolve(context, request, caller, Tree::Result)? else {
        return Ok(Message::ok(method, json!({"dirFileTrees": null})));
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
            json!({"size": meta.as_ref().map_or(0, |m| m.len()).to_string(), "modifytime": modified.to_string()})
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
        let mut children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| ApiError::Internal(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        children.sort_by_key(|p| result_order(p));
        tree["children"] = Value::Array(children.iter().map(|child| node(child, Some(&dir))).collect());
    }
    Ok(Message::ok(method, json!({"dirFileTrees": tree})))
}

/// Result sets sort by the number in their name (`_2` before `_10`), as Linkis clients expect.
fn result_order(path: &Path) -> (u64, String) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let number = name
        .strip_suffix(".dolphin")
        .and_then(|stem| stem.rsplit('_').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (number, name)
}

/// A positive count parameter; absent, blank or below 1 means `default`.
fn count_param(request: &Request, name: &str, default: u64) -> Result<u64, ApiError> {
    Ok(integer_param(request, name)?.filter(|n| *n >= 1).map_or(default, |n| n as u64))
}

/// `GET filesystem/openFile?path=&page=&pageSize=&nullValue=`: one page of a result set.
pub fn open_file(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    let path = resolve_file(call, Tree::Result)?;
    let page = count_param(request, "page", 1)?;
    let page_size = count_param(request, "pageSize", DEFAULT_PAGE_SIZE)?;
    if page_size > MAX_PAGE_SIZE {
        return Err(linkis_error(80034, format!("pageSize may be at most {MAX_PAGE_SIZE} rows")));
    }
    let permit = context.large_answer()?;
    let result = result_set::read_page(&path, page, page_size).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => linkis_error(80034, e.to_string()),
        _ => linkis_error(80032, format!("cannot read {}: {e}", uri_of(&path))),
    })?;
    let null_value = request.param("nullValue").unwrap_or_default();
    let show = |value: &Option<String>| -> Value {
        match (value, null_value.as_str()) {
            (None, "LINKIS_NULL") => Value::Null,
            (None, "") => json!("NULL"),
            (None, replacement) => json!(replacement),
            (Some(v), replacement) if v.is_empty() && !replacement.is_empty() && replacement != "LINKIS_NULL" => {
                json!(replacement)
            }
            (Some(v), _) => json!(v),
        }
    };
    let content: Vec<Value> = result.rows.iter().map(|row| Value::Array(row.iter().map(show).collect())).collect();
    let mut data = json!({
        "fileContent": content,
        "type": (result.kind as u8).to_string(),
        "totalLine": result.rows.len(),
        "page": page,
        "totalPage": 0,
    });
    match result.kind {
        ResultKind::Text => data["metadata"] = json!("NULL"),
        ResultKind::Table => {
            data["metadata"] = Value::Array(
                result
                    .columns
                    .iter()
                    .map(|c| json!({"columnName": c.name, "dataType": c.data_type, "comment": c.comment.as_deref().unwrap_or("NULL")}))
                    .collect(),
            );
            data["totalColumn"] = json!(result.columns.len());
        }
    }
    Ok(Message::ok(method, data).holding(Box::new(permit)))
}

/// `GET filesystem/openLog?path=&logLevel=`: a whole job log in the four-slot form.
pub fn open_log(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    let path = resolve_file(call, Tree::Log)?;
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
