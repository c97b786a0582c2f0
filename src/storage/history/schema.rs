//! The history's tables and indexes, its version, and the upgrade from older versions.

use rusqlite::Connection;

/// 2 added the `ended` flag (storage no longer names states).
pub(super) const SCHEMA_VERSION: i64 = 2;

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
    stage_total        INTEGER
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
";

/// Version 1 rows had no `ended` flag: add it, set it from the final states the job domain
/// names, and drop the index that named them.
pub(super) fn upgrade_from_1(conn: &Connection, ended_statuses: &[&str]) -> rusqlite::Result<()> {
    conn.execute_batch(
        "ALTER TABLE jobs ADD COLUMN ended INTEGER NOT NULL DEFAULT 0; DROP INDEX IF EXISTS jobs_unfinished;",
    )?;
    let mut mark = conn.prepare("UPDATE jobs SET ended = 1 WHERE status = ?1")?;
    for status in ended_statuses {
        mark.execute([status])?;
    }
    Ok(())
}
