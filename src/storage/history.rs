//! Job records in SQLite (`history.db`, WAL mode): what outlives the process.
//!
//! One row per accepted job, written when the job is accepted and on every state change.
//! Writes go through one writer thread that commits whatever has queued up in a single
//! transaction (group commit), so a burst of submissions costs one sync, not one per job;
//! callers that must know a row is durable (accepting a job, ending one) wait for the commit.
//! Reads use a small pool of read-only connections, so a slow list query never blocks a
//! write and no lock is held while SQLite works. This module knows rows, not jobs.

use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use crate::sync::lock;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
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
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(status)
    WHERE status IN ('Inited', 'WaitForRetry', 'Scheduled', 'Running');
";

const COLUMNS: &str = "id, exec_id, short_id, instance, submit_user, execute_user, creator, engine, engine_type, \
    run_type, code, params, source, running_timeout_ms, queuing_timeout_ms, log_path, result_dir, work_dir, status, \
    progress, created_ms, updated_ms, started_ms, ended_ms, pgid, pgid_start_ticks, boot_id, exit_code, err_code, \
    err_desc, paused, paused_ms, cpu_seconds, peak_memory_bytes, result_sets, stage_succeed, stage_total";

/// One job's row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobRecord {
    pub task_id: u64,
    pub exec_id: String,
    pub short_id: String,
    pub instance: String,
    pub submit_user: String,
    pub execute_user: String,
    pub creator: String,
    pub engine: String,
    pub engine_type: String,
    pub run_type: String,
    pub code: String,
    pub params: String,
    pub source: String,
    pub running_timeout_ms: Option<u64>,
    pub queuing_timeout_ms: Option<u64>,
    pub log_path: String,
    pub result_dir: String,
    pub work_dir: String,
    pub status: String,
    pub progress: f64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub pgid: Option<i64>,
    pub pgid_start_ticks: Option<u64>,
    pub boot_id: Option<String>,
    pub exit_code: Option<i64>,
    pub err_code: Option<i64>,
    pub err_desc: Option<String>,
    pub paused: bool,
    pub paused_ms: u64,
    pub cpu_seconds: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub result_sets: u32,
    pub stage_succeed: Option<u64>,
    pub stage_total: Option<u64>,
}

impl JobRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
        Ok(JobRecord {
            task_id: row.get(0)?,
            exec_id: row.get(1)?,
            short_id: row.get(2)?,
            instance: row.get(3)?,
            submit_user: row.get(4)?,
            execute_user: row.get(5)?,
            creator: row.get(6)?,
            engine: row.get(7)?,
            engine_type: row.get(8)?,
            run_type: row.get(9)?,
            code: row.get(10)?,
            params: row.get(11)?,
            source: row.get(12)?,
            running_timeout_ms: row.get(13)?,
            queuing_timeout_ms: row.get(14)?,
            log_path: row.get(15)?,
            result_dir: row.get(16)?,
            work_dir: row.get(17)?,
            status: row.get(18)?,
            progress: row.get(19)?,
            created_ms: row.get(20)?,
            updated_ms: row.get(21)?,
            started_ms: row.get(22)?,
            ended_ms: row.get(23)?,
            pgid: row.get(24)?,
            pgid_start_ticks: row.get(25)?,
            boot_id: row.get(26)?,
            exit_code: row.get(27)?,
            err_code: row.get(28)?,
            err_desc: row.get(29)?,
            paused: row.get(30)?,
            paused_ms: row.get(31)?,
            cpu_seconds: row.get(32)?,
            peak_memory_bytes: row.get(33)?,
            result_sets: row.get(34)?,
            stage_succeed: row.get(35)?,
            stage_total: row.get(36)?,
        })
    }
}

/// The fields of a row that change while a job lives; `None` leaves a column as it is.
#[derive(Clone, Debug, Default)]
pub struct JobUpdate {
    pub status: Option<String>,
    pub progress: Option<f64>,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub pgid: Option<i64>,
    pub pgid_start_ticks: Option<u64>,
    pub boot_id: Option<String>,
    pub exit_code: Option<i64>,
    pub err_code: Option<i64>,
    pub err_desc: Option<String>,
    pub paused: Option<bool>,
    pub paused_ms: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub result_sets: Option<u32>,
    pub stage_succeed: Option<u64>,
    pub stage_total: Option<u64>,
}

/// What `jobhistory/list` filters on. `user: None` lists every user's jobs.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub user: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub statuses: Vec<String>,
    pub task_id: Option<u64>,
    pub engine: Option<String>,
    pub creator: Option<String>,
    pub run_type: Option<String>,
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
}

/// A database failure, with what was being done.
#[derive(Debug, Clone)]
pub struct HistoryError(pub String);

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HistoryError {}

fn db_error(what: &str) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
    move |e| HistoryError(format!("{what}: {e}"))
}

type Ack = Sender<Result<(), HistoryError>>;

/// A write and, for callers that wait for the commit, where to say it is done.
type Queued = (Write, Option<Ack>);

enum Write {
    Insert(Box<JobRecord>),
    Update(u64, Box<JobUpdate>),
}

/// The job history database.
pub struct History {
    path: std::path::PathBuf,
    /// A random id made when the database was created: names this history among all others.
    instance_id: String,
    writes: Mutex<Option<Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

/// Writes queued at once are committed together, up to this many.
const MAX_BATCH: usize = 1024;

impl History {
    /// Opens (creating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let conn = Connection::open(path).map_err(db_error("open the job history"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_error("enable WAL"))?;
        // FULL: a committed job survives power loss too; group commit keeps the cost to one
        // sync per batch of writes.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_error("set synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_error("set busy timeout"))?;
        let version: i64 =
            conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db_error("read version"))?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError(format!(
                "history.db has schema version {version}, newer than this Portico understands ({SCHEMA_VERSION})"
            )));
        }
        conn.execute_batch(SCHEMA).map_err(db_error("create the schema"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_error("set version"))?;
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?1)", [random_id()])
            .map_err(db_error("record the history's id"))?;
        let instance_id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'instance_id'", [], |r| r.get(0))
            .map_err(db_error("read the history's id"))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = std::thread::Builder::new()
            .name("portico-history".into())
            .spawn(move || write_loop(conn, &rx))
            .map_err(|e| HistoryError(format!("start the history writer: {e}")))?;
        Ok(History {
            path: path.to_path_buf(),
            instance_id,
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// This database's random id, fixed when it was created.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The taskID the next job gets: never one used before, even for deleted rows.
    pub fn next_task_id(&self) -> Result<u64, HistoryError> {
        self.read(|conn| {
            let seq: Option<u64> =
                conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'", [], |r| r.get(0)).optional()?;
            Ok(seq.unwrap_or(0) + 1)
        })
    }

    /// Records a newly accepted job and waits until the row is committed.
    pub fn insert(&self, record: JobRecord) -> Result<(), HistoryError> {
        self.send(Write::Insert(Box::new(record)), true)
    }

    /// Updates a job's row; with `wait`, returns once it is committed.
    pub fn update(&self, task_id: u64, update: JobUpdate, wait: bool) -> Result<(), HistoryError> {
        self.send(Write::Update(task_id, Box::new(update)), wait)
    }

    fn send(&self, write: Write, wait: bool) -> Result<(), HistoryError> {
        let (ack, done) = if wait {
            let (tx, rx) = crossbeam_channel::bounded(1);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let sent = match lock(&self.writes).as_ref() {
            Some(writes) => writes.send((write, ack)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(HistoryError("the job history is closed".into()));
        }
        match done {
            Some(done) => done.recv().unwrap_or_else(|_| Err(HistoryError("the history writer stopped".into()))),
            None => Ok(()),
        }
    }

    /// One job's row.
    pub fn get(&self, task_id: u64) -> Result<Option<JobRecord>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))?
                .query_row([task_id], JobRecord::from_row)
                .optional()
        })
    }

    /// The row of the job with this execID.
    pub fn find_exec_id(&self, exec_id: &str) -> Result<Option<JobRecord>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE exec_id = ?1"))?
                .query_row([exec_id], JobRecord::from_row)
                .optional()
        })
    }

    /// Jobs that had not ended, oldest first: what a restart must account for.
    pub fn unfinished(&self) -> Result<Vec<JobRecord>, HistoryError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE status IN ('Inited', 'WaitForRetry', 'Scheduled', 'Running') ORDER BY id"
            ))?;
            let rows = stmt.query_map([], JobRecord::from_row)?;
            rows.collect()
        })
    }

    /// A page of jobs, newest first, and how many match in all.
    pub fn list(&self, filter: &ListFilter) -> Result<(Vec<JobRecord>, u64), HistoryError> {
        let (clause, args) = where_clause(filter);
        let limit = filter.page_size.min(i64::MAX as u64);
        let offset = filter.page.saturating_sub(1).saturating_mul(filter.page_size).min(i64::MAX as u64);
        self.read(|conn| {
            let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let total: u64 = conn
                .prepare_cached(&format!("SELECT COUNT(*) FROM jobs {clause}"))?
                .query_row(&params[..], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs {clause} ORDER BY created_ms DESC, id DESC LIMIT {limit} OFFSET {offset}"
            ))?;
            let rows = stmt.query_map(&params[..], JobRecord::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total))
        })
    }

    /// How SQLite plans the list query for `filter` (for tests that keep it on an index).
    pub fn explain_list(&self, filter: &ListFilter) -> Result<String, HistoryError> {
        let (clause, args) = where_clause(filter);
        self.read(|conn| {
            let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let mut stmt = conn.prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM jobs {clause} ORDER BY created_ms DESC, id DESC LIMIT 20"
            ))?;
            let lines =
                stmt.query_map(&params[..], |r| r.get::<_, String>(3))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(lines.join("\n"))
        })
    }

    /// Runs `query` on a pooled read connection; the pool's lock is held only to take and
    /// return a connection.
    fn read<T>(&self, query: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, HistoryError> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db_error("open a history reader"))?;
                conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_error("set busy timeout"))?;
                // Up to one reader per handler thread: keep each one's page cache small.
                conn.pragma_update(None, "cache_size", -1024).map_err(db_error("set cache size"))?;
                conn
            }
        };
        let result = query(&conn).map_err(db_error("query the job history"));
        let mut readers = lock(&self.readers);
        if readers.len() < 16 {
            readers.push(conn);
        }
        result
    }

    /// Commits what is queued and stops the writer; later writes fail.
    pub fn close(&self) {
        lock(&self.writes).take();
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.close();
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    crate::accounts::fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn where_clause(filter: &ListFilter) -> (String, Vec<Box<dyn ToSql>>) {
    let mut conditions = vec!["created_ms >= ?".to_string(), "created_ms < ?".to_string()];
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(filter.start_ms), Box::new(filter.end_ms)];
    if let Some(user) = &filter.user {
        conditions.push("execute_user = ?".into());
        args.push(Box::new(user.clone()));
    }
    if !filter.statuses.is_empty() {
        conditions.push(format!("status IN ({})", vec!["?"; filter.statuses.len()].join(", ")));
        args.extend(filter.statuses.iter().map(|s| Box::new(s.clone()) as Box<dyn ToSql>));
    }
    for (column, value) in [("engine", &filter.engine), ("creator", &filter.creator), ("run_type", &filter.run_type)] {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            args.push(Box::new(value.clone()));
        }
    }
    if let Some(task_id) = filter.task_id {
        conditions.push("id = ?".into());
        args.push(Box::new(task_id));
    }
    // Numbered placeholders keep prepared statements cacheable per shape.
    let mut n = 0;
    let clause = conditions
        .iter()
        .map(|c| {
            c.chars()
                .map(|ch| {
                    if ch == '?' {
                        n += 1;
                        format!("?{n}")
                    } else {
                        ch.to_string()
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    (format!("WHERE {clause}"), args)
}

fn write_loop(mut conn: Connection, writes: &Receiver<Queued>) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if commit(&mut conn, &batch).is_ok() {
            for (_, ack) in batch {
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(()));
                }
            }
            continue;
        }
        // One bad write must not sink the others that happened to share its transaction:
        // commit them one by one and tell each caller its own outcome.
        for queued in batch {
            let result = commit(&mut conn, std::slice::from_ref(&queued)).map_err(|e| {
                log::error!("job history write failed, the change is not durable: {e}");
                HistoryError(format!("write the job history: {e}"))
            });
            if let Some(ack) = queued.1 {
                let _ = ack.send(result);
            }
        }
    }
}

fn commit(conn: &mut Connection, batch: &[Queued]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (write, _) in batch {
        match write {
            Write::Insert(r) => {
                tx.prepare_cached(&format!(
                    "INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37)"
                ))?
                .execute(params![
                    r.task_id,
                    r.exec_id,
                    r.short_id,
                    r.instance,
                    r.submit_user,
                    r.execute_user,
                    r.creator,
                    r.engine,
                    r.engine_type,
                    r.run_type,
                    r.code,
                    r.params,
                    r.source,
                    r.running_timeout_ms,
                    r.queuing_timeout_ms,
                    r.log_path,
                    r.result_dir,
                    r.work_dir,
                    r.status,
                    r.progress,
                    r.created_ms,
                    r.updated_ms,
                    r.started_ms,
                    r.ended_ms,
                    r.pgid,
                    r.pgid_start_ticks,
                    r.boot_id,
                    r.exit_code,
                    r.err_code,
                    r.err_desc,
                    r.paused,
                    r.paused_ms,
                    r.cpu_seconds,
                    r.peak_memory_bytes,
                    r.result_sets,
                    r.stage_succeed,
                    r.stage_total,
                ])?;
            }
            Write::Update(task_id, u) => {
                let mut sets = vec!["updated_ms = ?".to_string()];
                let mut args: Vec<&dyn ToSql> = vec![&u.updated_ms];
                macro_rules! set {
                    ($($field:ident),*) => {$(
                        if let Some(value) = &u.$field {
                            sets.push(concat!(stringify!($field), " = ?").to_string());
                            args.push(value);
                        }
                    )*};
                }
                set!(
                    status,
                    progress,
                    started_ms,
                    ended_ms,
                    pgid,
                    pgid_start_ticks,
                    boot_id,
                    exit_code,
                    err_code,
                    err_desc,
                    paused,
                    paused_ms,
                    cpu_seconds,
                    peak_memory_bytes,
                    result_sets,
                    stage_succeed,
                    stage_total
                );
                args.push(task_id);
                // A terminal status never changes again, as in Linkis's job history.
                tx.prepare_cached(&format!(
                    "UPDATE jobs SET {} WHERE id = ? AND status NOT IN ('Succeed', 'Failed', 'Cancelled', 'Timeout')",
                    sets.join(", ")
                ))?
                .execute(&args[..])?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(task_id: u64, user: &str, created_ms: u64, status: &str) -> JobRecord {
        JobRecord {
            task_id,
            exec_id: format!("exec_{task_id}"),
            short_id: format!("IDE_{user}_shell_{task_id}"),
            submit_user: user.into(),
            execute_user: user.into(),
            creator: "IDE".into(),
            engine: "shell".into(),
            engine_type: "shell-1".into(),
            run_type: "shell".into(),
            code: "echo".into(),
            params: "{}".into(),
            source: "{}".into(),
            status: status.into(),
            created_ms,
            updated_ms: created_ms,
            ..JobRecord::default()
        }
    }

    fn all(page_size: u64) -> ListFilter {
        ListFilter { end_ms: u64::MAX >> 1, page: 1, page_size, ..ListFilter::default() }
    }

    #[test]
    fn rows_round_trip_and_ended_rows_stay_ended() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("history.db")).unwrap();
        assert_eq!(history.next_task_id().unwrap(), 1);
        assert_eq!(history.instance_id().len(), 16);
        let mut row = record(1, "alice", 1000, "Inited");
        row.err_desc = Some("ünïcode".into());
        history.insert(row.clone()).unwrap();
        assert_eq!(history.get(1).unwrap().unwrap(), row);
        assert_eq!(history.find_exec_id("exec_1").unwrap().unwrap().task_id, 1);
        assert_eq!(history.next_task_id().unwrap(), 2);

        let done = JobUpdate {
            status: Some("Succeed".into()),
            progress: Some(1.0),
            updated_ms: 2000,
            exit_code: Some(0),
            ..JobUpdate::default()
        };
        history.update(1, done, true).unwrap();
        let late = JobUpdate { status: Some("Cancelled".into()), updated_ms: 3000, ..JobUpdate::default() };
        history.update(1, late, true).unwrap();
        let row = history.get(1).unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.exit_code, row.updated_ms), ("Succeed", Some(0), 2000));
        assert!(history.get(2).unwrap().is_none());
    }

    #[test]
    fn list_filters_pages_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("history.db")).unwrap();
        for i in 1..=30u64 {
            let user = if i % 3 == 0 { "bob" } else { "alice" };
            let status = if i % 5 == 0 { "Failed" } else { "Succeed" };
            history.insert(record(i, user, 1000 + i, status)).unwrap();
        }
        let (page, total) = history.list(&ListFilter { user: Some("alice".into()), ..all(7) }).unwrap();
        assert_eq!(total, 20);
        assert_eq!(page.len(), 7);
        assert_eq!(page[0].task_id, 29, "newest first");
        let (page3, _) = history.list(&ListFilter { user: Some("alice".into()), page: 3, ..all(7) }).unwrap();
        assert_eq!(page3.len(), 6);
        let (failed, total) = history.list(&ListFilter { statuses: vec!["Failed".into()], ..all(100) }).unwrap();
        assert_eq!(total, 6);
        assert!(failed.iter().all(|r| r.status == "Failed"));
        let (window, total) = history.list(&ListFilter { start_ms: 1010, end_ms: 1020, ..all(100) }).unwrap();
        assert_eq!((total, window.len()), (10, 10));
        let (one, total) = history.list(&ListFilter { task_id: Some(9), ..all(100) }).unwrap();
        assert_eq!((total, one[0].execute_user.as_str()), (1, "bob"));
    }

    #[test]
    fn list_queries_use_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("history.db")).unwrap();
        let own = history.explain_list(&ListFilter { user: Some("alice".into()), ..all(20) }).unwrap();
        assert!(own.contains("USING INDEX jobs_by_user_time"), "{own}");
        let everyone = history.explain_list(&all(20)).unwrap();
        assert!(everyone.contains("USING INDEX jobs_by_time"), "{everyone}");
        let failed = vec!["Failed".to_string()];
        let own_failed = history
            .explain_list(&ListFilter { user: Some("alice".into()), statuses: failed.clone(), ..all(20) })
            .unwrap();
        assert!(own_failed.contains("USING INDEX jobs_by_user_status_time"), "{own_failed}");
        let all_failed = history.explain_list(&ListFilter { statuses: failed, ..all(20) }).unwrap();
        assert!(all_failed.contains("USING INDEX jobs_by_status_time"), "{all_failed}");
        for filter in [ListFilter { user: Some("alice".into()), ..all(20) }, all(20)] {
            assert!(!history.explain_list(&filter).unwrap().contains("SCAN jobs\n"), "no full table scan");
        }
    }
}
