//! `/portico/admin/*`: Portico's own operations for administrators (Linkis has no such
//! endpoints): a backup of the job history while the server runs.
//!
//! `POST portico/admin/backup` writes the backup into the configured backup directory under a
//! name the server makes from the time, or a plain file name the caller gives, never a path;
//! `GET portico/admin/backup` sends a fresh backup as an attachment, for a copy off the host.
//! One backup runs at a time; another asked for meanwhile is told to retry.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Map, Value};

use super::call::{optional_json_body, Call};
use super::message::{Answer, ApiError, Message};
use super::response::Response;
use crate::backup::{self, BackupError};
use crate::storage::history;

/// Set while a backup is being made.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// The turn to make a backup, given back on drop.
struct Turn;

impl Turn {
    fn take() -> Result<Turn, ApiError> {
        match RUNNING.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Ok(Turn),
            Err(_) => Err(ApiError::Busy { what: "A backup of the job history is being made", retry_after_secs: 5 }),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

/// The backup's name from a backup body `{"name": "nightly.db"}`: `None` when the body or the
/// name is absent (or null); a name of another type, or any other field, is refused by name.
fn name_in(body: Option<Map<String, Value>>) -> Result<Option<String>, ApiError> {
    let Some(body) = body else { return Ok(None) };
    if let Some(other) = body.keys().find(|key| *key != "name") {
        return Err(ApiError::BadRequest(format!(
            "A backup body takes only name (a plain file name), not {}",
            crate::logging::shown(other)
        )));
    }
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => Ok(Some(name.clone())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "The backup's name must be a plain file name (a string), not {}",
            crate::logging::shown(&other.to_string())
        ))),
    }
}

fn admin_only(call: Call<'_>) -> Result<(), ApiError> {
    if call.caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Only administrators may back up the job history; {} is not one(只有管理员可以备份)",
            call.caller.user
        )))
    }
}

fn failed(error: BackupError) -> ApiError {
    match &error {
        BackupError::BadName(_) | BackupError::Exists(_) => ApiError::BadRequest(error.to_string()),
        BackupError::Failed(e) => ApiError::Internal(e.0.clone()),
    }
}

/// `POST portico/admin/backup` with an optional body `{"name": "nightly.db"}` (or `?name=`):
/// `data {path, bytes, jobs, tookMillis}`.
pub fn backup(call: Call<'_>) -> Result<Message, ApiError> {
    let Call { context, request, method, .. } = call;
    admin_only(call)?;
    let body = optional_json_body::<Value>(request)?
        .map(|body| match body {
            Value::Object(map) => Ok(map),
            other => Err(ApiError::BadRequest(format!(
                "A backup body is an object such as {{\"name\": \"nightly.db\"}}, not {}",
                crate::logging::shown(&other.to_string())
            ))),
        })
        .transpose()?;
    let name = name_in(body)?.or_else(|| request.param("name"));
    let dir = context.config.backup_dir.clone().unwrap_or_else(|| context.layout.backups());
    let _turn = Turn::take()?;
    let report = backup::into_dir(&context.layout.history_db(), &dir, name.as_deref()).map_err(failed)?;
    log::info!(
        "{} backed up the job history to {} ({} jobs, {} bytes)",
        crate::logging::shown(&call.caller.user),
        report.path.display(),
        report.jobs,
        report.bytes
    );
    Ok(Message::ok(
        method,
        json!({
            "path": report.path.display().to_string(),
            "bytes": report.bytes,
            "jobs": report.jobs,
            "tookMillis": report.took.as_millis() as u64,
        }),
    ))
}

/// `GET portico/admin/backup`: a fresh backup, sent as `history-YYYYMMDD-HHMMSS-mmm.db`. It is
/// made under the data directory's `tmp/`, opened, and unlinked before it is sent, so nothing
/// is left behind however the download ends.
pub fn download(call: Call<'_>) -> Result<Answer, ApiError> {
    let Call { context, .. } = call;
    admin_only(call)?;
    let permit = context.download_turn()?;
    let turn = Turn::take()?;
    let name = backup::default_name(crate::clock::now_millis());
    let scratch = context.layout.tmp().join(format!("backup-{}-{name}", crate::random::hex(4)));
    let report = history::backup(&context.layout.history_db(), &scratch).map_err(|e| ApiError::Internal(e.0))?;
    let file = std::fs::File::open(&scratch);
    let _ = std::fs::remove_file(&scratch);
    let file = file.map_err(|e| ApiError::Internal(format!("cannot open the backup: {e}")))?;
    drop(turn);
    log::info!(
        "{} downloaded a backup of the job history ({} jobs, {} bytes)",
        crate::logging::shown(&call.caller.user),
        report.jobs,
        report.bytes
    );
    let response = Response::stream(200, Box::new(file), Some(report.bytes))
        .with_header("Content-Type", "application/vnd.sqlite3")
        .with_header("Content-Disposition", format!("attachment; filename=\"{name}\""))
        .with_header("X-Content-Type-Options", "nosniff")
        .holding(Box::new(permit));
    Ok(Answer::Raw(response))
}
