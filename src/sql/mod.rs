//! The SQL engine's child process: `portico __sql-engine --database D --script S --result-dir R
//! --row-cap N [--max-result-bytes B]` runs a job's SQL against one SQLite database and writes
//! each statement's rows as a TABLE result set, each cut at N rows or B bytes.
//!
//! It runs as the job's process (started by `engine/sqlite.rs`), not inside the server: a kill
//! or pause reaches it mid-query like any job's process group, and a query that builds a huge
//! result or sorts a huge table grows this process, never the server. It speaks to the runner
//! the way every job does: `##portico:progress done/total` and `##portico:error …` markers on
//! stdout (nothing else goes there), log lines in Linkis's format on stderr, exit code 0 or 1.
//! It must not know HTTP, the scheduler or the history.

mod split;
mod types;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::clock;
use crate::engine::Marker;
use crate::storage::log_file::Level;
use crate::storage::result_set::{Column, TableResultWriter, TableWriteError, MAX_ROW_BYTES};
use split::Statement;

/// The hidden subcommand that runs this engine.
pub const SUBCOMMAND: &str = "__sql-engine";

/// Rows of an expression column read before its type is settled from its first non-NULL
/// value (they wait in memory; all NULL so far means `string`).
const TYPE_SAMPLE_ROWS: usize = 100;

/// What the engine was asked to do.
struct Args {
    database: PathBuf,
    script: PathBuf,
    result_dir: PathBuf,
    row_cap: u64,
    /// The size cap of each result set, in bytes.
    max_result_bytes: u64,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut database, mut script, mut result_dir, mut row_cap) = (None, None, None, None);
        let mut max_result_bytes = None;
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--database" => database = Some(PathBuf::from(value)),
                "--script" => script = Some(PathBuf::from(value)),
                "--result-dir" => result_dir = Some(PathBuf::from(value)),
                "--row-cap" => row_cap = Some(value.parse().map_err(|_| format!("bad --row-cap {value}"))?),
                "--max-result-bytes" => {
                    max_result_bytes = Some(value.parse().map_err(|_| format!("bad --max-result-bytes {value}"))?)
                }
                _ => return Err(format!("unknown argument {flag}")),
            }
        }
        Ok(Args {
            database: database.ok_or("--database is required")?,
            script: script.ok_or("--script is required")?,
            result_dir: result_dir.ok_or("--result-dir is required")?,
            row_cap: row_cap.unwrap_or(5_000_000),
            max_result_bytes: max_result_bytes.unwrap_or(u64::MAX),
        })
    }
}

/// Runs the engine with `args` (after the subcommand); the process's exit code.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let args = match Args::parse(args) {
        Ok(args) => args,
        Err(e) => return fail(&format!("the SQL engine was started wrongly: {e}")),
    };
    let script = match std::fs::read_to_string(&args.script) {
        Ok(script) => script,
        Err(e) => return fail(&format!("cannot read the job's SQL: {e}")),
    };
    let statements = split::statements(&script);
    let conn = match open(&args) {
        Ok(conn) => conn,
        Err(e) => return fail(&format!("cannot open the database: {e}")),
    };
    let total = statements.len();
    progress(0, total);
    log(Level::Info, &format!("{total} SQL statements to run"));
    for (i, statement) in statements.iter().enumerate() {
        let started = Instant::now();
        let number = i + 1;
        match run(&conn, statement, &args) {
            Ok(done) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let what = match done {
                    Done::Changed(rows) => format!("changed {rows} rows"),
                    Done::Rows { rows, cut: None } => format!("returned {rows} rows"),
                    Done::Rows { rows, cut: Some(cap) } => {
                        let cap = match cap {
                            Cut::Rows => "the row cap".to_string(),
                            Cut::Bytes(limit) => format!("the result set's size limit of {limit} bytes"),
                        };
                        log(
                            Level::Warn,
                            &format!(
                                "Statement {number}: its result was cut at {rows} rows ({cap}); \
                                 the rest of its rows are not in the result set"
                            ),
                        );
                        format!("returned {rows} rows (cut at {cap})")
                    }
                };
                log(
                    Level::Info,
                    &format!("Statement {number} of {total} (line {}) {what} in {ms:.1} ms", statement.line),
                );
            }
            Err(why) => {
                return fail(&format!(
                    "SQL statement {number} of {total} (line {}: {}) failed: {why}",
                    statement.line,
                    statement.first_line()
                ))
            }
        }
        progress(number, total);
    }
    if !conn.is_autocommit() {
        return fail(
            "the script opened a transaction and did not end it (COMMIT or ROLLBACK): its changes were rolled back",
        );
    }
    ExitCode::SUCCESS
}

/// Opens the database for the job so that SQL reaches only the database it was given: no
/// other file attached (or written with `VACUUM INTO`, which attaches it), no extension
/// loaded, no temporary files sent to another directory, and defensive mode on (no writable
/// schema, no page-level writes) so one user's SQL cannot corrupt a database others share.
fn open(args: &Args) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&args.database, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.authorizer(Some(|context: AuthContext<'_>| match context.action {
        // Plain VACUUM attaches a nameless temporary database of its own: that one is fine.
        AuthAction::Attach { filename: "" } => Authorization::Allow,
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Authorization::Deny
        }
        AuthAction::Pragma { pragma_name, .. }
            if ["temp_store_directory", "data_store_directory"].iter().any(|p| pragma_name.eq_ignore_ascii_case(p)) =>
        {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }));
    Ok(conn)
}

/// What a statement did.
enum Done {
    Changed(usize),
    Rows { rows: u64, cut: Option<Cut> },
}

/// Which cap cut a result short.
enum Cut {
    Rows,
    Bytes(u64),
}

fn run(conn: &Connection, statement: &Statement, args: &Args) -> Result<Done, String> {
    let mut prepared = conn.prepare(&statement.text).map_err(|e| e.to_string())?;
    if prepared.column_count() == 0 {
        return prepared.raw_execute().map(Done::Changed).map_err(|e| e.to_string());
    }
    let names: Vec<String> = prepared.column_names().into_iter().map(str::to_string).collect();
    let declared: Vec<Option<&'static str>> =
        prepared.columns().iter().map(|c| c.decl_type().map(types::from_declared)).collect();
    let mut rows = prepared.raw_query();
    let mut result = Building { names, declared, sample: Vec::new(), sampled: types::Sampled::default(), table: None };
    let mut count = 0u64;
    let mut cut = None;
    let filled = (|| {
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            if count >= args.row_cap {
                cut = Some(Cut::Rows);
                break;
            }
            let values = (0..result.names.len()).map(|i| row.get_ref(i)).collect::<rusqlite::Result<Vec<_>>>();
            if !result.take(&values.map_err(|e| e.to_string())?, count + 1, args)? {
                break;
            }
            count += 1;
        }
        result.start(args)
    })();
    if let Some(kept) = result.table.as_ref().and_then(|t| t.kept_when_full) {
        (count, cut) = (kept, Some(Cut::Bytes(args.max_result_bytes)));
    }
    match (filled, result.table) {
        (Ok(()), Some(table)) => table.finish().map(|()| Done::Rows { rows: count, cut }),
        (Ok(()), None) => Err("the result set was not started".into()),
        (Err(why), table) => {
            if let Some(table) = table {
                table.writer.discard();
            }
            Err(why)
        }
    }
}

/// A statement's rows on their way into a result set: the first rows wait in a sample until
/// the types of the columns with no declared type are known.
struct Building {
    names: Vec<String>,
    declared: Vec<Option<&'static str>>,
    sample: Vec<Vec<Value>>,
    sampled: types::Sampled,
    table: Option<Table>,
}

impl Building {
    /// Takes row `number`: written at once, or kept in the sample (checked against the row
    /// limit first, so the sample never holds an over-long row). `false` once the result set
    /// is full: the row was not taken, and no later one will be.
    fn take(&mut self, values: &[ValueRef<'_>], number: u64, args: &Args) -> Result<bool, String> {
        if let Some(table) = &mut self.table {
            return table.row(values, number);
        }
        if self.declared.iter().all(Option::is_some) {
            self.start(args)?;
            return self.take(values, number, args);
        }
        let bytes: usize = values.iter().map(types::size).sum();
        if bytes > MAX_ROW_BYTES {
            return Err(too_large(number, bytes));
        }
        self.sampled.see(values);
        self.sample.push(values.iter().map(|v| Value::from(*v)).collect());
        if self.sample.len() >= TYPE_SAMPLE_ROWS {
            self.start(args)?;
        }
        Ok(self.table.as_ref().is_none_or(|t| t.kept_when_full.is_none()))
    }

    /// Creates the result set (once) with the types known now, and writes the sample into it.
    fn start(&mut self, args: &Args) -> Result<(), String> {
        if self.table.is_some() {
            return Ok(());
        }
        let types: Vec<&'static str> =
            (0..self.names.len()).map(|i| self.declared[i].unwrap_or_else(|| self.sampled.type_of(i))).collect();
        let columns: Vec<Column> =
            self.names.iter().zip(&types).map(|(name, kind)| Column::new(name.as_str(), *kind)).collect();
        let writer = TableResultWriter::create_next(&args.result_dir, &columns)
            .map_err(|e| e.to_string())?
            .with_limit(args.max_result_bytes);
        let mut table = Table { writer, cells: vec![Vec::new(); types.len()], types, kept_when_full: None };
        for (n, values) in std::mem::take(&mut self.sample).iter().enumerate() {
            let refs: Vec<ValueRef<'_>> = values.iter().map(ValueRef::from).collect();
            match table.row(&refs, n as u64 + 1) {
                Ok(true) => {}
                Ok(false) => break,
                Err(why) => {
                    table.writer.discard();
                    return Err(why);
                }
            }
        }
        self.table = Some(table);
        Ok(())
    }
}

fn too_large(number: u64, bytes: usize) -> String {
    format!("row {number} of its result is over 2 MB ({bytes} bytes); result sets refuse such rows")
}

/// One statement's result set being written.
struct Table {
    writer: TableResultWriter,
    types: Vec<&'static str>,
    /// One reusable buffer per column for its rendered value.
    cells: Vec<Vec<u8>>,
    /// Once a row did not fit in the size cap: how many rows the result set kept.
    kept_when_full: Option<u64>,
}

impl Table {
    /// Writes row `number`; `false` (and nothing written) once the result set is full.
    fn row(&mut self, values: &[ValueRef<'_>], number: u64) -> Result<bool, String> {
        if self.kept_when_full.is_some() {
            return Ok(false);
        }
        let mut present = Vec::with_capacity(values.len());
        for ((value, kind), cell) in values.iter().zip(&self.types).zip(&mut self.cells) {
            present.push(types::render(*value, kind, cell));
        }
        let row: Vec<Option<&[u8]>> =
            self.cells.iter().zip(present).map(|(cell, present)| present.then_some(cell.as_slice())).collect();
        match self.writer.row(&row) {
            Ok(()) => Ok(true),
            Err(TableWriteError::Full { .. }) => {
                self.kept_when_full = Some(self.writer.rows());
                Ok(false)
            }
            Err(TableWriteError::RowTooLarge { bytes, .. }) => Err(too_large(number, bytes)),
            Err(other) => Err(format!("cannot write the result set: {other}")),
        }
    }

    fn finish(self) -> Result<(), String> {
        self.writer.finish().map(drop).map_err(|e| format!("cannot write the result set: {e}"))
    }
}

/// Tells the runner how many statements are done.
fn progress(done: usize, total: usize) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} {done}/{}", Marker::Progress.text(), total.max(1));
    let _ = out.flush();
}

/// One log line in Linkis's format, on stderr (the runner copies it into the job's log).
fn log(level: Level, text: &str) {
    let stamp = clock::log_timestamp(clock::now_millis());
    let mut err = std::io::stderr().lock();
    for part in text.split('\n') {
        let _ = writeln!(err, "{stamp} {} {part}", level.word());
    }
}

/// Reports why the job failed (the runner puts it in the job's error slot) and exits 1.
fn fail(why: &str) -> ExitCode {
    log(Level::Error, why);
    let one_line = why.replace('\n', " ");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} {one_line}", Marker::Error.text());
    let _ = out.flush();
    ExitCode::from(1)
}

#[cfg(test)]
mod tests;
