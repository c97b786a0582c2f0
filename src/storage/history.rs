//! Job records in SQLite (`history.db`, WAL mode): what outlives the process.
//!
//! One row per accepted job, written when the job is accepted and on every state change.
//! Writes go through one writer thread that commits whatever has queued up in a single
//! transaction (group commit), so a burst of submissions costs one sync, not one per job;
//! callers that must know a row is durable (accepting a job, ending one) wait for the commit.
//! Reads use a small pool of read-only connections, so a slow list query never blocks a
//! write and no lock is held while SQLite works. Retention's queries and writes
//! (`retention.rs`) and the online backup (`backup.rs`) sit beside the job's own. This module
//! knows rows, not jobs.

use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, RecvError};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::job_row::column_list;
pub use super::job_row::{JobRecord, JobUpdate};

use crate::sync::lock;

mod backup;
mod retention;
mod schema;
mod writer;

pub use backup::{backup, BackupReport};
pub use retention::{Cursor, FilesOfJob, CURSOR_START};
use schema::{SCHEMA, SCHEMA_VERSION};
use writer::{write_loop, Ack, Queued, Write};

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

/// The job history database.
pub struct History {
    path: std::path::PathBuf,
    /// A random id made when the database was created: names this history among all others.
    instance_id: String,
    writes: Mutex<Option<crate::sync::handoff::Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl History {
    /// Opens (creating if needed) the database at `path` and starts its writer.
    /// `ended_statuses` are the job domain's final states, needed only to upgrade a history
    /// written before rows carried their own `ended` flag.
    pub fn open(path: &Path, ended_statuses: &[&str]) -> Result<History, HistoryError> {
        let mut conn = Connection::open(path).map_err(db_error("open the job history"))?;
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
        // One transaction: an upgrade that fails halfway leaves the file as it was.
        let tx = conn.transaction().map_err(db_error("begin the schema transaction"))?;
        if (1..SCHEMA_VERSION).contains(&version) {
            schema::upgrade(&tx, version, ended_statuses)
                .map_err(db_error(&format!("upgrade the history from version {version}")))?;
        }
        tx.execute_batch(SCHEMA).map_err(db_error("create the schema"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_error("set version"))?;
        tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?1)", [crate::random::hex(8)])
            .map_err(db_error("record the history's id"))?;
        tx.commit().map_err(db_error("commit the schema"))?;
        let instance_id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'instance_id'", [], |r| r.get(0))
            .map_err(db_error("read the history's id"))?;
        let (tx, rx) = crate::sync::handoff::channel();
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

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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
        self.insert_held(record, Vec::new())
    }

    /// [`History::insert`] with the lines of the job's log, held rather than a file.
    pub fn insert_held(&self, record: JobRecord, held_log: Vec<u8>) -> Result<(), HistoryError> {
        self.send(Write::Insert(Box::new(record), held_log), true)
    }

    /// The lines of a job's log that its row holds, for a log that never became a file (empty
    /// or `None` for one that did, and `None` once retention has removed the job's files).
    pub fn held_log(&self, task_id: u64) -> Result<Option<Vec<u8>>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT held_log FROM jobs WHERE id = ?1 AND files_removed_ms IS NULL")?
                .query_row([task_id], |row| row.get::<_, Option<Vec<u8>>>(0))
                .optional()
                .map(Option::flatten)
        })
    }

    /// Updates a job's row; with `wait`, returns once it is committed. Without, it is committed
    /// with the next write somebody waits for, or within 10 ms (`writer::UNAWAITED_WITHIN`).
    pub fn update(&self, task_id: u64, update: JobUpdate, wait: bool) -> Result<(), HistoryError> {
        self.send(Write::Update(task_id, Box::new(update)), wait)
    }

    /// Queues `updates` for one transaction (all of them or none are durable), to be committed
    /// with the next write somebody waits for (or within `writer::UNAWAITED_WITHIN`). Its
    /// outcome arrives on the returned channel (read it with [`Commit::received`]), already
    /// there if the history is closed.
    pub fn update_together_lazy(&self, updates: Vec<(u64, JobUpdate)>) -> Receiver<Result<(), HistoryError>> {
        let (ack, outcome) = crossbeam_channel::bounded(1);
        // Refused, the write drops its end of the channel, which then says the writer stopped.
        let _ = self.deliver(Queued { write: Write::Together(updates), ack: Some(Ack::Channel(ack)), urgent: false });
        outcome
    }

    /// Queues an update without blocking and returns the commit to wait for: a caller holding
    /// locks queues under them (so updates keep the order their changes were made in) and
    /// waits once it has let them go.
    pub fn update_queued(&self, task_id: u64, update: JobUpdate) -> Result<Commit, HistoryError> {
        self.queue(Write::Update(task_id, Box::new(update)), true)
    }

    fn send(&self, write: Write, wait: bool) -> Result<(), HistoryError> {
        self.queue(write, wait)?.wait()
    }

    /// Queues `write`; with `wait`, it is committed at once and its outcome can be waited for.
    fn queue(&self, write: Write, wait: bool) -> Result<Commit, HistoryError> {
        let (ack, done) = if wait {
            let (answer, waiting) = crate::sync::handoff::channel();
            (Some(Ack::Waiter(answer)), Some(waiting))
        } else {
            (None, None)
        };
        self.deliver(Queued { write, ack, urgent: wait })?;
        Ok(Commit(done))
    }

    fn deliver(&self, queued: Queued) -> Result<(), HistoryError> {
        match lock(&self.writes).as_ref() {
            Some(writes) if writes.send(queued).is_ok() => Ok(()),
            _ => Err(HistoryError("the job history is closed".into())),
        }
    }

    /// One job's row.
    pub fn get(&self, task_id: u64) -> Result<Option<JobRecord>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {} FROM jobs WHERE id = ?1", column_list()))?
                .query_row([task_id], JobRecord::from_row)
                .optional()
        })
    }

    /// The row of the job with this execID.
    pub fn find_exec_id(&self, exec_id: &str) -> Result<Option<JobRecord>, HistoryError> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {} FROM jobs WHERE exec_id = ?1", column_list()))?
                .query_row([exec_id], JobRecord::from_row)
                .optional()
        })
    }

    /// Jobs that had not ended, oldest first: what a restart must account for.
    pub fn unfinished(&self) -> Result<Vec<JobRecord>, HistoryError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {} FROM jobs WHERE ended = 0 ORDER BY id", column_list()))?;
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
                "SELECT {} FROM jobs {clause} ORDER BY created_ms DESC, id DESC LIMIT {limit} OFFSET {offset}",
                column_list()
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
                "EXPLAIN QUERY PLAN SELECT {} FROM jobs {clause} ORDER BY created_ms DESC, id DESC LIMIT 20",
                column_list()
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

/// A queued write's commit, to wait for with [`Commit::wait`].
#[must_use = "a queued write is only known to be durable once waited for"]
pub struct Commit(Option<crate::sync::handoff::Receiver<Result<(), HistoryError>>>);

impl Commit {
    /// Returns once the write is committed, or why it could not be.
    pub fn wait(self) -> Result<(), HistoryError> {
        // It sleeps until answered (a channel's receive would spin and yield its core first:
        // with eight submissions waiting for their group commit, an eighth of the server's
        // CPU); a writer that went away without answering counts as a failure.
        self.0.map_or(Ok(()), |done| done.recv().unwrap_or_else(|| Err(writer_stopped())))
    }

    /// A write's outcome as received from its channel: a writer that went away without
    /// saying counts as a failure.
    pub fn received(message: Result<Result<(), HistoryError>, RecvError>) -> Result<(), HistoryError> {
        message.unwrap_or_else(|_| Err(writer_stopped()))
    }
}

fn writer_stopped() -> HistoryError {
    HistoryError("the history writer stopped".into())
}

impl Drop for History {
    fn drop(&mut self) {
        self.close();
    }
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

#[cfg(test)]
mod tests;
