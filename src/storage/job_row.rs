//! The one definition of a job's row in Rust: every column is named once, in [`job_row!`] below
//! (the SQL schema in `history/schema.rs` and the list queries' filters name columns too), and
//! the record type, the column list, reading a row (by its place in that generated list) and
//! writing one (with named parameters) are all generated from that list, so adding a column is one line and a
//! wrong index cannot exist. [`JobUpdate`] lists, once, the columns that change while a job
//! lives.
//!
//! Rows hold what the job domain hands over; this module never interprets a state name. Whether
//! a job has ended is the `ended` flag, set by `job/`.

use rusqlite::types::ToSql;
use rusqlite::Row;

/// A column's name: the field's own, or the one given after `=`.
macro_rules! column {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $name:literal) => {
        $name
    };
}

macro_rules! job_row {
    ($( $(#[$doc:meta])* $field:ident $(= $name:literal)? : $ty:ty ),* $(,)?) => {
        /// One job's row.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct JobRecord {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl JobRecord {
            /// Every column with its named parameter, in table order.
            pub(super) const COLUMNS: &'static [(&'static str, &'static str)] =
                &[$( (column!($field $(, $name)?), concat!(":", column!($field $(, $name)?))) ),*];

            /// Reads a row selected with [`JobRecord::COLUMNS`] in their order. Values are
            /// taken by position in that generated list, the one the SELECT names, so a
            /// position cannot drift from its name (a test checks the statement's names); a
            /// lookup by name would compare every column name for every value, on every status
            /// poll of an ended job.
            pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
                let mut position = 0usize..;
                Ok(JobRecord { $( $field: row.get(position.next().unwrap_or_default())?, )* })
            }

            /// The named parameters of an insert of this row.
            pub(super) fn named_params(&self) -> Vec<(&'static str, &dyn ToSql)> {
                vec![$( (concat!(":", column!($field $(, $name)?)), &self.$field as &dyn ToSql) ),*]
            }
        }
    };
}

macro_rules! job_update {
    ($( $field:ident : $ty:ty ),* $(,)?) => {
        /// The columns of a row that change while a job lives; `None` leaves a column as it is.
        #[derive(Clone, Debug, Default)]
        pub struct JobUpdate {
            pub updated_ms: u64,
            $( pub $field: Option<$ty>, )*
        }

        impl JobUpdate {
            /// `column = :column` for every column this update sets, with its value.
            pub(super) fn assignments(&self) -> Vec<(&'static str, &'static str, &dyn ToSql)> {
                let mut set: Vec<(&'static str, &'static str, &dyn ToSql)> =
                    vec![("updated_ms", ":updated_ms", &self.updated_ms)];
                $( if let Some(value) = &self.$field {
                    set.push((stringify!($field), concat!(":", stringify!($field)), value));
                } )*
                set
            }

            /// `later` on top of this update: what applying both, this one first, sets.
            pub(super) fn absorb(&mut self, later: &JobUpdate) {
                self.updated_ms = later.updated_ms;
                $( if later.$field.is_some() {
                    self.$field.clone_from(&later.$field);
                } )*
            }
        }
    };
}

job_row! {
    task_id = "id": u64,
    exec_id: String,
    short_id: String,
    instance: String,
    submit_user: String,
    execute_user: String,
    creator: String,
    engine: String,
    engine_type: String,
    run_type: String,
    code: String,
    params: String,
    source: String,
    running_timeout_ms: Option<u64>,
    queuing_timeout_ms: Option<u64>,
    log_path: String,
    result_dir: String,
    work_dir: String,
    status: String,
    /// Set by the job domain when `status` is a final one: a row that has ended never changes.
    ended: bool,
    progress: f64,
    created_ms: u64,
    updated_ms: u64,
    started_ms: Option<u64>,
    ended_ms: Option<u64>,
    pgid: Option<i64>,
    pgid_start_ticks: Option<u64>,
    boot_id: Option<String>,
    exit_code: Option<i64>,
    err_code: Option<i64>,
    err_desc: Option<String>,
    paused: bool,
    paused_ms: u64,
    cpu_seconds: Option<f64>,
    peak_memory_bytes: Option<u64>,
    result_sets: u32,
    stage_succeed: Option<u64>,
    stage_total: Option<u64>,
    /// When retention removed the job's files (its row stays); set only by retention.
    files_removed_ms: Option<u64>,
}

// `held_log`: the lines of a log held in memory, not yet a file (`LogWriter::held`). Never
// selected with the rest of a row (`History::held_log` reads it).
job_update! {
    status: String,
    ended: bool,
    progress: f64,
    started_ms: u64,
    ended_ms: u64,
    pgid: i64,
    pgid_start_ticks: u64,
    boot_id: String,
    exit_code: i64,
    err_code: i64,
    err_desc: String,
    paused: bool,
    paused_ms: u64,
    cpu_seconds: f64,
    peak_memory_bytes: u64,
    result_sets: u32,
    stage_succeed: u64,
    stage_total: u64,
    held_log: Vec<u8>,
}

/// `a, b, c`: the column list of a SELECT or an INSERT.
pub(super) fn column_list() -> String {
    JobRecord::COLUMNS.iter().map(|(column, _)| *column).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO jobs (…, held_log) VALUES (:…, :held_log)`: a row and the lines of its log
/// held rather than a file, in one statement. Made once.
pub(super) fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let parameters: Vec<&str> = JobRecord::COLUMNS.iter().map(|(_, parameter)| *parameter).collect();
        format!("INSERT INTO jobs ({}, held_log) VALUES ({}, :held_log)", column_list(), parameters.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_listed_once_with_their_parameters() {
        assert_eq!(JobRecord::COLUMNS[0], ("id", ":id"));
        assert!(JobRecord::COLUMNS.iter().all(|(c, p)| p.strip_prefix(':') == Some(*c)));
        let record = JobRecord::default();
        assert_eq!(record.named_params().len(), JobRecord::COLUMNS.len());
        assert!(insert_sql().starts_with("INSERT INTO jobs (id, exec_id, "), "{}", insert_sql());
        let update = JobUpdate { status: Some("x".into()), ended: Some(true), ..JobUpdate::default() };
        let set: Vec<&str> = update.assignments().iter().map(|(c, _, _)| *c).collect();
        assert_eq!(set, ["updated_ms", "status", "ended"]);
    }
}
