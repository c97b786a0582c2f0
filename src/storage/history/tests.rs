//! Unit tests of the job history: inserts, updates, list filters on their indexes, upgrades.

use super::retention::{self, FilesOfJob};
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

const ENDED: &[&str] = &["Succeed", "Failed", "Cancelled", "Timeout"];

fn all(page_size: u64) -> ListFilter {
    ListFilter { end_ms: u64::MAX >> 1, page: 1, page_size, ..ListFilter::default() }
}

#[test]
fn rows_round_trip_and_ended_rows_stay_ended() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
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
        ended: Some(true),
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
fn a_rows_updates_committed_together_end_as_they_would_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    for task_id in 1..=2 {
        history.insert(record(task_id, "alice", 1000, "Inited")).unwrap();
    }
    let running = |pgid| JobUpdate {
        status: Some("Running".into()),
        pgid: Some(pgid),
        held_log: Some(b"so far".to_vec()),
        updated_ms: 2000,
        ..JobUpdate::default()
    };
    let end = JobUpdate {
        status: Some("Succeed".into()),
        ended: Some(true),
        exit_code: Some(0),
        held_log: Some(Vec::new()),
        updated_ms: 3000,
        ..JobUpdate::default()
    };
    let late = JobUpdate { status: Some("Failed".into()), updated_ms: 4000, ..JobUpdate::default() };
    // Unawaited, then one awaited: one transaction (`UNAWAITED_WITHIN` is far longer).
    let outcome = history.update_together_lazy(vec![(1, running(41)), (2, running(42))]);
    history.update(1, end.clone(), false).unwrap();
    history.update(1, late, false).unwrap();
    history.update(2, end, true).unwrap();
    Commit::received(outcome.recv()).unwrap();
    for (task_id, pgid) in [(1, 41), (2, 42)] {
        let row = history.get(task_id).unwrap().unwrap();
        assert_eq!(
            (row.status.as_str(), row.ended, row.pgid, row.exit_code, row.updated_ms),
            ("Succeed", true, Some(pgid), Some(0), 3000),
            "row {task_id}"
        );
        assert_eq!(history.held_log(task_id).unwrap(), Some(Vec::new()));
    }
}

#[test]
fn unawaited_updates_share_the_next_awaited_commit_or_are_committed_soon_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    for task_id in [1, 2] {
        history.insert(record(task_id, "alice", 1000, "Inited")).unwrap();
    }
    let status = |task_id| history.get(task_id).unwrap().unwrap().status;
    let running = |status: &str| JobUpdate { status: Some(status.into()), ..JobUpdate::default() };
    // Alone, it is committed all the same, within moments.
    history.update(1, running("Running"), false).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(1) != "Running" {
        assert!(std::time::Instant::now() < deadline, "an unawaited update was never committed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Followed by one somebody waits for, it is durable when that one is, in its order.
    history.update(2, running("Running"), false).unwrap();
    Commit::received(history.update_together_lazy(vec![(2, running("Scheduled")), (1, running("Succeed"))]).recv())
        .unwrap();
    assert_eq!((status(1), status(2)), ("Succeed".to_string(), "Scheduled".to_string()));
    // And nothing queued is lost when the history closes.
    history.update(2, running("Running"), false).unwrap();
    history.close();
    let reopened = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    assert_eq!(reopened.get(2).unwrap().unwrap().status, "Running");
}

#[test]
fn a_version_1_history_is_upgraded_with_its_ended_rows_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    {
        let conn = Connection::open(&path).unwrap();
        let v1 = version_2_schema()
            .replace("    ended              INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("CREATE INDEX IF NOT EXISTS jobs_not_ended ON jobs(id) WHERE ended = 0;", "");
        conn.execute_batch(&v1).unwrap();
        conn.execute_batch(
            "CREATE INDEX jobs_unfinished ON jobs(status) WHERE status IN ('Inited'); PRAGMA user_version = 1;",
        )
        .unwrap();
        for (id, status) in [(1, "Succeed"), (2, "Inited"), (3, "Running"), (4, "Timeout")] {
            conn.execute(
                "INSERT INTO jobs (id, exec_id, short_id, instance, submit_user, execute_user, creator, engine, \
                 engine_type, run_type, code, params, source, log_path, result_dir, work_dir, status, created_ms, \
                 updated_ms) VALUES (?1, ?1, 's', 'i', 'u', 'u', 'IDE', 'shell', 'shell-1', 'shell', 'x', '{}', '{}', \
                 'l', 'r', 'w', ?2, 1, 1)",
                rusqlite::params![id, status],
            )
            .unwrap();
        }
    }
    let history = History::open(&path, ENDED).unwrap();
    let unfinished: Vec<u64> = history.unfinished().unwrap().iter().map(|r| r.task_id).collect();
    assert_eq!(unfinished, [2, 3]);
    let late = JobUpdate { status: Some("Cancelled".into()), updated_ms: 9, ..JobUpdate::default() };
    history.update(4, late, true).unwrap();
    assert_eq!(history.get(4).unwrap().unwrap().status, "Timeout", "an ended row stays ended");
    assert!(history.get(1).unwrap().unwrap().ended);
}

#[test]
fn list_filters_pages_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
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
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    let own = history.explain_list(&ListFilter { user: Some("alice".into()), ..all(20) }).unwrap();
    assert!(own.contains("USING INDEX jobs_by_user_time"), "{own}");
    let everyone = history.explain_list(&all(20)).unwrap();
    assert!(everyone.contains("USING INDEX jobs_by_time"), "{everyone}");
    let failed = vec!["Failed".to_string()];
    let own_failed =
        history.explain_list(&ListFilter { user: Some("alice".into()), statuses: failed.clone(), ..all(20) }).unwrap();
    assert!(own_failed.contains("USING INDEX jobs_by_user_status_time"), "{own_failed}");
    let all_failed = history.explain_list(&ListFilter { statuses: failed, ..all(20) }).unwrap();
    assert!(all_failed.contains("USING INDEX jobs_by_status_time"), "{all_failed}");
    for filter in [ListFilter { user: Some("alice".into()), ..all(20) }, all(20)] {
        assert!(!history.explain_list(&filter).unwrap().contains("SCAN jobs\n"), "no full table scan");
    }
}

#[test]
fn rows_are_read_in_the_order_the_select_names_their_columns() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(super::schema::SCHEMA).unwrap();
    let stmt = conn.prepare(&format!("SELECT {} FROM jobs", crate::storage::job_row::column_list())).unwrap();
    let named: Vec<&str> = JobRecord::COLUMNS.iter().map(|(name, _)| *name).collect();
    assert_eq!(stmt.column_names(), named);
}

/// The schema as version 2 wrote it: without what retention keeps.
fn version_2_schema() -> String {
    let schema = SCHEMA.replace(
        ",\n    files_bytes        INTEGER,\n    files_removed_ms   INTEGER,\n    held_log           BLOB\n",
        "\n",
    );
    let cut = schema.find("CREATE INDEX IF NOT EXISTS jobs_with_files").unwrap();
    assert!(!schema[..cut].contains("files_"), "the version 2 schema has no retention columns");
    assert!(!schema[..cut].contains("held_log"), "nor held logs");
    schema[..cut].to_string()
}

/// Ends a row as the job domain does, `ended_ms` after the epoch.
fn end(history: &History, task_id: u64, ended_ms: u64) {
    let update = JobUpdate {
        status: Some("Succeed".into()),
        ended: Some(true),
        ended_ms: Some(ended_ms),
        updated_ms: ended_ms,
        ..JobUpdate::default()
    };
    history.update(task_id, update, true).unwrap();
}

fn ids(jobs: &[FilesOfJob]) -> Vec<u64> {
    jobs.iter().map(|j| j.task_id).collect()
}

#[test]
fn a_version_2_history_is_upgraded_with_every_ended_job_keeping_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&version_2_schema()).unwrap();
        conn.execute_batch("PRAGMA user_version = 2;").unwrap();
        for (id, ended, ended_ms) in [(1, 1, Some(500)), (2, 0, None), (3, 1, None)] {
            conn.execute(
                "INSERT INTO jobs (id, exec_id, short_id, instance, submit_user, execute_user, creator, engine, \
                 engine_type, run_type, code, params, source, log_path, result_dir, work_dir, status, ended, \
                 created_ms, updated_ms, ended_ms) VALUES (?1, ?1, 's', 'i', 'u', 'u', 'IDE', 'shell', 'shell-1', \
                 'shell', 'x', '{}', '{}', 'l', 'r', 'w', 'Succeed', ?2, 1, 700, ?3)",
                rusqlite::params![id, ended, ended_ms],
            )
            .unwrap();
        }
    }
    let history = History::open(&path, ENDED).unwrap();
    let kept = history.files_kept(u64::MAX, retention::CURSOR_START, 10).unwrap();
    assert_eq!(ids(&kept), [1, 3], "ended rows only, oldest end first");
    assert_eq!(kept[1].ended_ms, 700, "an ended row without an end time takes its last update's");
    assert_eq!(history.get(1).unwrap().unwrap().files_removed_ms, None);
    drop(history);
    let history = History::open(&path, ENDED).unwrap();
    assert_eq!(ids(&history.files_kept(u64::MAX, retention::CURSOR_START, 10).unwrap()), [1, 3], "opened again as is");
}

#[test]
fn retention_pages_ended_rows_marks_them_and_deletes_them_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    for id in 1..=6u64 {
        history.insert(record(id, "alice", 100 * id, "Inited")).unwrap();
    }
    // Ends out of taskID order; job 6 never ends.
    for (id, ended_ms) in [(1, 5_000), (2, 1_000), (3, 3_000), (4, 3_000), (5, 9_000)] {
        end(&history, id, ended_ms);
    }
    let first = history.files_kept(u64::MAX, retention::CURSOR_START, 3).unwrap();
    assert_eq!(ids(&first), [2, 3, 4]);
    let last = first.last().map(|j| (j.ended_ms, j.task_id)).unwrap();
    assert_eq!(ids(&history.files_kept(u64::MAX, last, 3).unwrap()), [1, 5], "the next page, after the cursor");
    assert_eq!(
        ids(&history.files_kept(3_001, retention::CURSOR_START, 10).unwrap()),
        [2, 3, 4],
        "ended before the cutoff"
    );

    assert_eq!(ids(&history.files_unmeasured(retention::CURSOR_START, 10).unwrap()), [2, 3, 4, 1, 5]);
    history.record_files_measured(vec![(2, 10), (3, 20), (6, 999)]).unwrap();
    assert_eq!(ids(&history.files_unmeasured(retention::CURSOR_START, 10).unwrap()), [4, 1, 5]);
    assert_eq!(history.files_kept_bytes().unwrap(), 30, "a job that has not ended is never measured");

    history.record_files_removed(vec![2, 6], 42_000).unwrap();
    assert_eq!(history.get(2).unwrap().unwrap().files_removed_ms, Some(42_000));
    assert_eq!(history.get(6).unwrap().unwrap().files_removed_ms, None, "a job that has not ended keeps its files");
    assert_eq!(history.files_kept_bytes().unwrap(), 20);
    assert_eq!(ids(&history.files_kept(u64::MAX, retention::CURSOR_START, 10).unwrap()), [3, 4, 1, 5]);
    history.record_files_removed(vec![2], 50_000).unwrap();
    assert_eq!(history.get(2).unwrap().unwrap().files_removed_ms, Some(42_000), "the first removal's date stays");

    // Created before 350 and ended before it: none (every end is later); before 10,000: 1-5.
    assert!(history.rows_ended_before(350, retention::CURSOR_START, 10).unwrap().is_empty());
    let old = history.rows_ended_before(10_000, retention::CURSOR_START, 2).unwrap();
    assert_eq!(ids(&old), [1, 2], "by creation");
    history.delete_rows(vec![1, 2, 6]).unwrap();
    assert!(history.get(1).unwrap().is_none());
    assert!(history.get(6).unwrap().is_some(), "a job that has not ended keeps its row");
    assert_eq!(history.next_task_id().unwrap(), 7, "taskIDs of deleted rows are never handed out again");
}

#[test]
fn retention_queries_read_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    let plan = |sql: &str| -> String {
        history
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let lines = stmt.query_map([], |r| r.get::<_, String>(3))?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(lines.join("\n"))
            })
            .unwrap()
    };
    let kept = plan(
        "SELECT id FROM jobs WHERE ended = 1 AND files_removed_ms IS NULL AND ended_ms < 5 \
         AND (ended_ms, id) > (1, 2) ORDER BY ended_ms, id LIMIT 10",
    );
    assert!(kept.contains("jobs_with_files") && !kept.contains("TEMP B-TREE"), "{kept}");
    let sum = plan("SELECT SUM(files_bytes) FROM jobs WHERE ended = 1 AND files_removed_ms IS NULL");
    assert!(sum.contains("COVERING INDEX jobs_with_files"), "{sum}");
    // The queries themselves name their index (INDEXED BY): they fail rather than scan.
    assert!(history.files_kept(5, retention::CURSOR_START, 10).unwrap().is_empty());
    assert!(history.files_unmeasured(retention::CURSOR_START, 10).unwrap().is_empty());
    assert!(history.rows_ended_before(5, retention::CURSOR_START, 10).unwrap().is_empty());
}

#[test]
fn a_backup_is_one_whole_file_that_never_replaces_another() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    for id in 1..=50u64 {
        history.insert(record(id, "alice", id, "Inited")).unwrap();
    }
    let dest = dir.path().join("copy.db");
    let report = backup(history.path(), &dest).unwrap();
    assert_eq!((report.jobs, report.path.as_path()), (50, dest.as_path()));
    assert_eq!(report.bytes, std::fs::metadata(&dest).unwrap().len());
    let copy = Connection::open_with_flags(&dest, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mode: String = copy.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "no -wal file needed beside it");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let refused = backup(history.path(), &dest).unwrap_err();
    assert!(refused.0.contains("already exists"), "{refused}");
    assert!(backup(&dir.path().join("none.db"), &dir.path().join("x.db")).is_err());
}

#[test]
fn a_commit_hears_its_answer_across_threads_and_a_writer_gone_unanswered_is_a_failure() {
    let (answer, waiting) = crate::sync::handoff::channel();
    std::thread::spawn(move || answer.send(Err(HistoryError("disk full".into()))).is_ok()).join().unwrap();
    assert_eq!(Commit(Some(waiting)).wait().unwrap_err().0, "disk full", "an answer sent before the wait is kept");
    let (answer, waiting) = crate::sync::handoff::channel::<Result<(), HistoryError>>();
    drop(answer);
    assert!(Commit(Some(waiting)).wait().unwrap_err().0.contains("stopped"));
    assert!(Commit(None).wait().is_ok(), "nothing to wait for");
}
