//! The history's tables and indexes, its version, and the upgrades from older versions.

use rusqlite::Connection;

/// 2 added the `ended` flag (storage no longer names states); 3 added what retention keeps
/// about a job's files (`files_bytes`, `files_removed_ms`); 4 the lines of logs that are not
/// files (`held_log`).
pub(super) const SCHEMA_VERSION: i64 = 4;

/// The tables and indexes. `jobs_with_files` (ended jobs whose files retention has not
/// removed, by end) repeats its own condition's columns only so that the sum of the kept bytes
/// is read from the index alone: SQLite does not count a partial index's condition as covered.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    exec_id            TEXT    NOT NULL,
    short_id           TEXT    NOT NULL,
    instance           TEXT    NOT NULL,
    submit_user        TEXT    NOT NULL,
    execute_user       TEXT    NOT NULL,
    creator            TEXT    NOT NULL,
    engine             TEXT    NOT NULL,
    engine_type        TEXT    NOT NULL,
    run_type           TEXT    NOT NULL,
    code               TEXT    NOT NULL,
    params             TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    running_timeout_ms INTEGER,
    queuing_timeout_ms INTEGER,
    log_path           TEXT    NOT NULL,
    result_dir         TEXT    NOT NULL,
    work_dir           TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    ended              INTEGER NOT NULL DEFAULT 0,
    progress           REAL    NOT NULL DEFAULT 0,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    started_ms         INTEGER,
    ended_ms           INTEGER,
    pgid               INTEGER,
    pgid_start_ticks   INTEGER,
    boot_id            TEXT,
    exit_code          INTEGER,
    err_code           INTEGER,
    err_desc           TEXT,
    paused             INTEGER NOT NULL DEFAULT 0,
    paused_ms          INTEGER NOT NULL DEFAULT 0,
    cpu_seconds        REAL,
    peak_memory_bytes  INTEGER,
    result_sets        INTEGER NOT NULL DEFAULT 0,
    stage_succeed      INTEGER,
    stage_total        INTEGER,
    files_bytes        INTEGER,
    files_removed_ms   INTEGER,
    held_log           BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_exec_id ON jobs(exec_id);
CREATE INDEX IF NOT EXISTS jobs_by_user_time ON jobs(execute_user, created_ms);
CREATE INDEX IF NOT EXISTS jobs_by_user_status_time ON jobs(execute_user, status, created_ms);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs(created_ms);
CREATE INDEX IF NOT EXISTS jobs_by_status_time ON jobs(status, created_ms);
CREATE INDEX IF NOT EXISTS jobs_not_ended ON jobs(id) WHERE ended = 0;
CREATE INDEX IF NOT EXISTS jobs_with_files ON jobs(ended_ms, id, files_bytes, ended, files_removed_ms)
    WHERE ended = 1 AND files_removed_ms IS NULL;
CREATE INDEX IF NOT EXISTS jobs_unmeasured ON jobs(ended_ms)
    WHERE ended = 1 AND files_removed_ms IS NULL AND files_bytes IS NULL;
";

/// Brings a history of `version` (1 to 3) up to [`SCHEMA_VERSION`], one step after another;
/// the caller runs it in the transaction that also sets the new version, so a failed upgrade
/// leaves the file as it was.
pub(super) fn upgrade(conn: &Connection, version: i64, ended_statuses: &[&str]) -> rusqlite::Result<()> {
    if version == 1 {
        upgrade_from_1(conn, ended_statuses)?;
    }
    if version <= 2 {
        upgrade_from_2(conn)?;
    }
    if version <= 3 {
        conn.execute_batch("ALTER TABLE jobs ADD COLUMN held_log BLOB;")?;
    }
    Ok(())
}

/// Version 1 rows had no `ended` flag: add it, set it from the final states the job domain
/// names, and drop the index that named them.
fn upgrade_from_1(conn: &Connection, ended_statuses: &[&str]) -> rusqlite::Result<()> {
    conn.execute_batch(
        "ALTER TABLE jobs ADD COLUMN ended INTEGER NOT NULL DEFAULT 0; DROP INDEX IF EXISTS jobs_unfinished;",
    )?;
    let mut mark = conn.prepare("UPDATE jobs SET ended = 1 WHERE status = ?1")?;
    for status in ended_statuses {
        mark.execute([status])?;
    }
    Ok(())
}

/// Version 2 rows knew nothing of retention: every ended job still has its files. Rows that
/// ended without an end time (none should) take their last update's, so that age applies.
fn upgrade_from_2(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "ALTER TABLE jobs ADD COLUMN files_bytes INTEGER;
         ALTER TABLE jobs ADD COLUMN files_removed_ms INTEGER;
         UPDATE jobs SET ended_ms = updated_ms WHERE ended = 1 AND ended_ms IS NULL;",
    )
}
