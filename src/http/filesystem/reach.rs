//! Which path a `path` parameter names, and whether the caller may reach it.
//!
//! Only the caller's own result and log trees under the data directory can be reached (an
//! admin's reach is every user's). Paths arrive as `file://` URIs; `..` segments are refused
//! outright, and everything else is resolved through the real filesystem (following symlinks)
//! before the check, so a symlink cannot lead out. A missing path that was a job's file is
//! told apart: removed by retention (expired), or a result directory not made yet (empty).
//! This module reads paths and the history; it must not know how a file is answered.

use std::path::{Path, PathBuf};

use super::super::auth::Caller;
use super::super::call::{Call, Context};
use super::super::message::ApiError;
use super::super::request::Request;
use crate::data_dir::UserTree;
use crate::logging::shown;
use crate::storage::history::JobRecord;
use crate::storage::result_set::is_result_file;

/// Whether `path` is a file of `tree`'s kind (a result set, a job log), and what such files
/// are called in errors.
fn is_file_of(tree: UserTree, path: &Path) -> (bool, &'static str) {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    match tree {
        UserTree::Result => (is_result_file(&name), "a result set file"),
        UserTree::Log => (path.extension().is_some_and(|e| e == "log"), "a job log"),
    }
}

pub(in crate::http) fn linkis_error(code: u32, desc: String) -> ApiError {
    ApiError::Workspace { code, desc }
}

/// The `path` parameter as a real path inside the caller's `tree`; `Ok(None)` if it does not
/// exist (Linkis answers that with an empty listing, not an error).
fn resolve(context: &Context, request: &Request, caller: &Caller, tree: UserTree) -> Result<Option<PathBuf>, ApiError> {
    Ok(match locate(context, request, caller, tree)? {
        Some(Found::Real(path)) => Some(path),
        Some(Found::Unmade(_)) | None => None,
    })
}

/// What a `path` parameter names.
pub(in crate::http) enum Found {
    /// An existing path inside the caller's tree, resolved through the real filesystem.
    Real(PathBuf),
    /// A job's result directory that is not made yet (the job has written no result set):
    /// it stands for an empty directory, and is answered so without looking at the path
    /// again (whatever a job puts there meanwhile, a symlink included, is not followed).
    Unmade(PathBuf),
}

/// [`resolve`], telling a job's result directory not made yet from a path that is not there.
pub(in crate::http) fn locate(
    context: &Context,
    request: &Request,
    caller: &Caller,
    tree: UserTree,
) -> Result<Option<Found>, ApiError> {
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
    // No file has a NUL in its name; the system would refuse the path, and without this it
    // would be answered as a path the caller may not see rather than one that cannot be.
    if path.contains('\0') {
        return Err(linkis_error(80025, format!("The path {} holds a NUL character", shown(&uri))));
    }
    // Checked on the text first, so that nothing about paths outside the caller's tree (not
    // even whether they exist) can be learnt; then again on the real path, for symlinks.
    let users = context.layout.users();
    if !within_tree(Path::new(path), &users, caller, tree) {
        return Err(no_permission(caller, &uri));
    }
    let real = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match missing_path(context, Path::new(path), tree)? {
            Some(Found::Real(made)) => std::fs::canonicalize(made).map_err(|_| no_permission(caller, &uri))?,
            other => return Ok(other),
        },
        Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => {
            return Err(linkis_error(80025, format!("The path {} is too long", shown(&uri))))
        }
        Err(_) => return Err(no_permission(caller, &uri)),
    };
    if within_tree(&real, &users, caller, tree) {
        Ok(Some(Found::Real(real)))
    } else {
        Err(no_permission(caller, &uri))
    }
}

/// The job whose file (or result directory) a missing `path` of `tree` would be. The path is
/// already known to lie in the caller's tree: `users/<owner>/log/<day>/<task>.log`,
/// `users/<owner>/result/<day>/<task>[/…]`.
fn job_of_missing(context: &Context, path: &Path, tree: UserTree) -> Option<JobRecord> {
    let rest = path.strip_prefix(context.layout.users()).ok()?;
    let task = rest.components().nth(3)?.as_os_str().to_str()?;
    let task = match tree {
        UserTree::Log => task.strip_suffix(".log")?,
        UserTree::Result => task,
    };
    let record = context.scheduler.history_record(task.parse().ok()?).ok()??;
    let belongs = match tree {
        UserTree::Log => path == Path::new(&record.log_path),
        UserTree::Result => path.starts_with(&record.result_dir),
    };
    belongs.then_some(record)
}

/// What a missing `path` of `tree` is answered with: the "expired" error for a job's file that
/// retention removed; the path itself for a job's result directory that is not made yet (the
/// job has written no result set: it is listed as empty); a job's log whose lines were held
/// rather than a file, made the file now (`Found::Real`, to be resolved again); `Ok(None)`
/// when it is simply not there.
fn missing_path(context: &Context, path: &Path, tree: UserTree) -> Result<Option<Found>, ApiError> {
    let Some(record) = job_of_missing(context, path, tree) else {
        return Ok(None);
    };
    if let Some(removed_ms) = record.files_removed_ms {
        return Err(ApiError::Expired { task_id: record.task_id, removed_ms });
    }
    if tree == UserTree::Log {
        context.scheduler.make_log_file(record.task_id, path)?;
        return Ok(path.exists().then(|| Found::Real(path.to_path_buf())));
    }
    Ok((path == Path::new(&record.result_dir)).then(|| Found::Unmade(path.to_path_buf())))
}

/// The "expired" answer for a job whose files retention removed, `None` for any other.
pub(in crate::http) fn expired_job(context: &Context, task_id: u64) -> Option<ApiError> {
    let record = context.scheduler.history_record(task_id).ok()??;
    Some(ApiError::Expired { task_id, removed_ms: record.files_removed_ms? })
}

/// Whether `path` lies in the caller's own `tree` (`users/<caller>/<tree>/...`), or, for an
/// admin, in any user's.
fn within_tree(path: &Path, users: &Path, caller: &Caller, tree: UserTree) -> bool {
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
pub(in crate::http) fn resolve_file(call: Call<'_>, tree: UserTree) -> Result<PathBuf, ApiError> {
    let path = resolve(call.context, call.request, call.caller, tree)?
        .ok_or_else(|| linkis_error(80003, "The file does not exist(文件不存在)".into()))?;
    let (of_kind, kind) = is_file_of(tree, &path);
    if !path.is_file() || !of_kind {
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

pub(in crate::http) fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}
